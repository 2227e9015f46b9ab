"""Data flows one way: no import cycle between bntheory's subpackages, and no private name
imported across modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "bntheory"


def unit(module: str) -> str:
    """The subpackage (or top-level module) a dotted module name belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def import_graph(root: Path) -> dict[str, set[str]]:
    """Edges between the units of the package under ``root`` (every import, lazy ones too)."""
    edges: dict[str, set[str]] = {}
    for f in root.rglob("*.py"):
        rel = f.relative_to(root.parent).with_suffix("")
        src = unit(".".join(rel.parts).removesuffix(".__init__"))
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module == root.name:
                names = [f"{root.name}.{a.name}" for a in node.names]  # from bntheory import X
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for n in names:
                if n.startswith(f"{root.name}.") and unit(n) != src:
                    edges.setdefault(src, set()).add(unit(n))
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a list of units, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_subpackages():
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


#: The floors of docs/architecture.md, ground floor first: a unit imports only earlier ones
#: (units on one floor may import each other, as long as no cycle forms).
FLOORS = [
    {"errors", "atomic", "threads", "stats", "pool"},
    {"norms"},
    {"symbolic"},
    {"cases"},
    {"verify"},
    {"theorems"},
    {"search"},
    {"claims"},
    {"nn", "landscape"},
    {"report"},
    {"pipeline"},
    {"testing"},
    {"cli", "<root>"},
]


def test_every_import_goes_down_the_documented_floors():
    floor = {unit: i for i, units in enumerate(FLOORS) for unit in units}
    edges = import_graph(PACKAGE)
    assert set(edges) | {d for ds in edges.values() for d in ds} <= set(floor), "undocumented unit"
    upward = [(a, b) for a, ds in edges.items() for b in ds if floor[b] > floor[a]]
    assert not upward, f"imports that go up the floors of docs/architecture.md: {upward}"


def test_the_cycle_check_finds_an_introduced_cycle(tmp_path):
    """The check can fail: a copy of the package with one added back-edge has a cycle."""
    import shutil

    copy = tmp_path / "bntheory"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    norms = copy / "norms" / "registry.py"  # the ground floor imports the report: a cycle
    norms.write_text(norms.read_text() + "\nfrom bntheory.report import figures  # noqa\n")
    cycle = find_cycle(import_graph(copy))
    assert cycle is not None and "norms" in cycle and "report" in cycle


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_private_name_is_imported_across_modules(path):
    tree = ast.parse(path.read_text())
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bntheory"):
            mods = node.module.split(".")
            bad += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            bad += [node.module] if any(m.startswith("_") for m in mods) else []
    assert not bad, f"{path.name} imports private names: {bad}"
