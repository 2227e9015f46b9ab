"""Every import path, command and file that README.md and docs/ name exists and works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bntheory.cli import build_parser

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEXT = {p.name: p.read_text() for p in DOCS}
#: The design note outside the repository, which nothing here may cite.
OUTSIDE = "DESIGN" + ".md"


def _imports() -> list[str]:
    found = set()
    for text in TEXT.values():
        for m in re.finditer(
            r"^\s*(from bntheory[\w.]* import [\w, ]+|import bntheory[\w.]*)\s*$", text, re.M
        ):
            found.add(m.group(1).strip())
        for m in re.finditer(r"`from (bntheory[\w.]*) import ([\w, ]+)`", text):
            found.add(f"from {m.group(1)} import {m.group(2)}")
    return sorted(found)


@pytest.mark.parametrize("statement", _imports())
def test_documented_imports_work(statement):
    exec(statement, {})


def test_the_documented_symbolic_api_works():
    from bntheory.symbolic import hessian, jacobian

    assert jacobian("batchnorm", 2, 0).shape == (2, 2)
    assert hessian("batchnorm", 2, 0).shape == (2, 2, 2)


def _commands() -> list[str]:
    cmds = set()
    for text in TEXT.values():
        for block in re.findall(r"```sh\n(.*?)```", text, re.S):  # commands shown to be run
            cmds.update(re.findall(r"^bntheory ([a-z][a-z-]*)\b", block, re.M))
        cmds.update(re.findall(r"`bntheory ([a-z][a-z-]*)[^`]*`", text))
    return sorted(cmds)


def test_documented_commands_exist():
    known = set(build_parser()._subparsers._group_actions[0].choices)  # argparse's own table
    documented = set(_commands())
    assert {"report", "verify", "check"} <= documented
    missing = documented - known
    assert not missing, f"documented commands that do not exist: {missing}"


@pytest.mark.parametrize(
    "command",
    ["layers", "prove", "verify", "search", "check", "landscape", "sweep", "report", "torch-check"],
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0 and command in capsys.readouterr().out


def test_documented_files_exist():
    missing = []
    for name, text in TEXT.items():
        for m in re.finditer(r"`((?:bntheory|tests|benchmarks|proofs|docs)/[\w/.-]+)`", text):
            path = m.group(1).rstrip(".")
            if "<" not in path and not (ROOT / path).exists():
                missing.append((name, path))
    assert not missing, missing


def test_docs_stand_alone():
    for name, text in TEXT.items():
        assert OUTSIDE not in text, name
    for f in (ROOT / "bntheory").rglob("*.py"):
        assert OUTSIDE not in f.read_text(), f


def test_readme_is_for_users():
    assert len(TEXT["README.md"].splitlines()) <= 250
    assert "make report" in TEXT["README.md"] and "make test" in TEXT["README.md"]


def test_the_readme_pytest_example_runs(tmp_path):
    block = re.search(r"```python\n(from hypothesis import given.*?)```", TEXT["README.md"], re.S)
    assert block, "the README's example of a bound of your own is missing"
    (tmp_path / "test_readme_example.py").write_text(block.group(1))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            str(tmp_path / "test_readme_example.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
