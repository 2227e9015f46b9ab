"""The page of PyTorch's own derivatives (``torch/index.md``), its JSON, and the repro scripts.

From the verdicts of the ``torch.<function>.<route>`` claims
(:mod:`bntheory.claims.catalogue.torch_routes`): a grid of routes by functions, the list of
refuted routes with their largest error in units of the error model, and for each refuted
one a standalone script ``torch/<claim id>.py`` (plain torch) that prints the two
disagreeing numbers and exits with status 1 while the disagreement lasts.
"""

from __future__ import annotations

import json
import math
from typing import Any

from bntheory.claims.model import SearchEvidence, Verdict
from bntheory.report.files import ReportDir
from bntheory.report.meta import provenance_markdown
from bntheory.report.verdicts import ROUTES_PAPER
from bntheory.verify import routes

#: The ``paper`` key of the route claims.
PAPER = ROUTES_PAPER
PAGE = "torch/index.md"
DATA = "data/torch.json"


def is_route(v: Verdict) -> bool:
    """Whether a verdict is one of a PyTorch route."""
    return v.claim.paper == PAPER


def parts(claim_id: str) -> tuple[str, str]:
    """``(function, route)`` of a claim id ``torch.<function>.<route>``."""
    rest = claim_id.removeprefix("torch.")
    function, route = rest.rsplit(".", 1)
    return function, route


def script_name(v: Verdict) -> str:
    """The repro script of a refuted verdict, relative to the report's root."""
    suffix = "" if v.regime == "cpu" else f"-{v.regime}"
    return f"torch/{v.id}{suffix}.py"


def script_files(claim_ids: list[str], regimes: tuple[str, ...]) -> list[str]:
    """Every repro script a report may write (for its manifest)."""
    out = []
    for cid in claim_ids:
        for r in regimes:
            stem = f"torch/{cid}{'' if r == 'cpu' else '-' + r}"
            out += [f"{stem}.py", f"{stem}.worst.py"]
    return out


def worst_script_name(v: Verdict) -> str:
    """The repro script of a refuted verdict's worst case seen (``SearchEvidence.closest``)."""
    return script_name(v).removesuffix(".py") + ".worst.py"


def has_worst(v: Verdict) -> bool:
    """Whether a refuted verdict's worst case differs from its shrunk counterexample."""
    ev = v.evidence
    return (
        v.verdict == "refuted"
        and isinstance(ev, SearchEvidence)
        and ev.closest is not None
        and ev.closest != ev.counterexample
    )


def largest_error(v: Verdict) -> float | None:
    """The largest error seen in the search (generation and shrinking), in units of the error
    model (``error / allowed``): ``1 - min_slack``; infinite where the route raised or
    returned a non-finite value (the slack is then not finite and not recorded)."""
    ev = v.evidence
    if not isinstance(ev, SearchEvidence):
        return None
    if ev.min_slack is not None:
        return 1.0 - ev.min_slack
    if ev.sides is not None:  # a route that raised is recorded with the largest float
        return math.inf
    return None


def shrunk_error(v: Verdict) -> float | None:
    """The error of the shrunk counterexample (the repro script's case), in the same units."""
    ev = v.evidence
    if not isinstance(ev, SearchEvidence) or ev.sides is None:
        return None
    r = float(ev.sides["ratio"])
    return math.inf if r >= 1e308 else r


def finding(v: Verdict, worst: bool = False) -> routes.Finding:
    """The refuted verdict's counterexample (or, with ``worst``, its worst case seen), checked
    once more: where the route disagrees."""
    function, route = parts(v.id)
    case = v.evidence.closest if worst else v.evidence.counterexample
    return routes.check(routes.ROUTES[route], routes.build(case))


Findings = dict[tuple[str, str], routes.Finding]


def findings(verdicts: list[Verdict]) -> Findings:
    """Every refuted route verdict's :func:`finding`, by ``(id, regime)``: checked once, read
    by the page, the JSON and the scripts."""
    return {
        (v.id, v.regime): finding(v) for v in verdicts if is_route(v) and v.verdict == "refuted"
    }


def repro(v: Verdict, worst: bool = False, found: routes.Finding | None = None) -> str:
    """The repro script of a refuted verdict: its shrunk counterexample, or its worst case
    (``found``: the case's finding, when already checked)."""
    function, route = parts(v.id)
    f = found if found is not None else finding(v, worst)
    which = "the worst case seen" if worst else "the shrunk counterexample"
    header = (
        f"{v.id} on {v.regime}, torch {v.provenance.get('torch', '?')}, {which}: "
        f"{routes.ROUTES[route].title} of {function} disagrees with autograd of the textbook "
        f"forward ({f.kind}, block {f.block}; {f.ratio:.3g} times the error model's bound). "
        "Written by bntheory report / bntheory torch-check."
    )
    case = v.evidence.closest if worst else v.evidence.counterexample
    return routes.repro_script(function, route, case, f.to_json(), header)


def _fmt(r: float | None) -> str:
    if r is None:
        return "—"
    if not math.isfinite(r):
        return "∞"
    return f"{r:.3g}"


def summary(verdicts: list[Verdict], found: Findings | None = None) -> dict[str, Any]:
    """The JSON of the page: one record per claim and device (``found``: :func:`findings`,
    computed here when not given)."""
    found = findings(verdicts) if found is None else found
    rows = []
    for v in verdicts:
        if not is_route(v):
            continue
        function, route = parts(v.id)
        rec = {
            "id": v.id,
            "function": function,
            "route": route,
            "device": v.regime,
            "verdict": v.verdict,
            "examples": v.evidence.examples,
            "largest_error": largest_error(v),
            "counterexample_error": shrunk_error(v),
            "torch": v.provenance.get("torch"),
        }
        if v.verdict == "refuted":
            f = found[(v.id, v.regime)]
            rec |= {
                "kind": f.kind,
                "block": f.block,
                "direction": v.evidence.counterexample["directions"][f.index]
                if f.kind != "grad"
                else "cotangent",
                "route_value": f.route_value,
                "exact_value": f.exact_value,
                "script": script_name(v),
            }
            if has_worst(v):
                rec["worst_script"] = worst_script_name(v)
        for key in ("largest_error", "counterexample_error"):
            if rec[key] is not None and not math.isfinite(rec[key]):
                rec[key] = "inf"
        rows.append(rec)
    peers = [
        {
            "library": p.name,
            "api": p.api,
            "route": p.route,
            "commit": p.commit,
            "refuted_for": sorted(
                {r["function"] for r in rows if r["route"] == p.route and r["verdict"] == "refuted"}
            ),
        }
        for p in routes.PEERS
    ]
    return {"schema": 1, "routes": rows, "peers": peers}


def page(verdicts: list[Verdict], meta: dict, found: Findings | None = None) -> str:
    """``torch/index.md`` (``found``: :func:`findings`, computed here when not given)."""
    found = findings(verdicts) if found is None else found
    vs = [v for v in verdicts if is_route(v)]
    functions = list(dict.fromkeys(parts(v.id)[0] for v in vs))
    route_ids = list(dict.fromkeys(parts(v.id)[1] for v in vs))
    cells = {(parts(v.id)[0], parts(v.id)[1], v.regime): v for v in vs}
    devices = list(dict.fromkeys(v.regime for v in vs))
    torch_version = next((v.provenance.get("torch") for v in vs), "?")
    refuted = [v for v in vs if v.verdict == "refuted"]
    out = [
        "# PyTorch's own derivatives of its normalization functions",
        "",
        provenance_markdown(meta),
        "",
        f"torch {torch_version}, on {', '.join(devices)}.  Each cell is the claim "
        "`torch.<function>.<route>`: the route computes the derivatives of "
        "L = ⟨g, f(x; weight, bias)⟩ it is meant to (gradient, output tangent or "
        "Hessian-vector product, every block of (x, weight, bias), tangents in each "
        "argument alone and in all at once) equal to the closed forms of "
        "`bntheory/norms/affine.py` up to the error model.  ✓ holds on every drawn case (the "
        "number: the largest error seen, in units of the error model's bound), ✗ refuted "
        "(the same number, now above 1; ∞ where the route raises).  A refuted claim's page "
        "has the shrunk counterexample, whose error can be much smaller than the largest.",
        "",
        f"{len(refuted)} of {len(vs)} (function, route, device) claims are refuted.",
        "",
        "| route | " + " | ".join(f"`{f}`" for f in functions) + " |",
        "|---|" + "---|" * len(functions),
    ]
    for r in route_ids:
        line = [f"`{r}`"]
        for f in functions:
            marks = []
            for d in devices:
                v = cells.get((f, r, d))
                if v is None:
                    marks.append("—")
                elif v.verdict == "refuted":
                    marks.append(f"[✗ {_fmt(largest_error(v))}](../theorems/{v.id}.md)")
                elif not v.evidence.examples:
                    marks.append("∅ (no case in the domain)")
                else:
                    marks.append(f"✓ {_fmt(largest_error(v))}")
            line.append(" / ".join(marks))
        out.append("| " + " | ".join(line) + " |")
    out += ["", "## Refuted routes", ""]
    if not refuted:
        out.append("None: every route agrees with the closed forms on every drawn case.")
    else:
        out += [
            "| claim | device | what | block | route | closed form | error / allowed "
            "(this case; largest seen) | repro |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for v in refuted:
            f = found[(v.id, v.regime)]
            what = f.kind
            if f.kind != "grad" and f.index < len(v.evidence.counterexample["directions"]):
                what += f", tangent in {v.evidence.counterexample['directions'][f.index]}"
            block = f.block if not f.block.startswith("raises") else "—"
            raised = f.block.startswith("raises")
            local = script_name(v).removeprefix("torch/")
            scripts = f"[{local}]({local})"
            if has_worst(v):
                worst = worst_script_name(v).removeprefix("torch/")
                scripts += f", worst case: [{worst}]({worst})"
            out.append(
                f"| [`{v.id}`](../theorems/{v.id}.md) | {v.regime} | "
                f"{'raises: ' + f.block.removeprefix('raises ') if raised else what} | {block} | "
                f"{'—' if raised else f'{f.route_value:.6g}'} | "
                f"{'—' if raised else f'{f.exact_value:.6g}'} | "
                f"{_fmt(f.ratio)}; {_fmt(largest_error(v))} | "
                f"{scripts} |"
            )
        out += [
            "",
            "Each script is plain torch: it rebuilds its case (the shrunk counterexample; the "
            "`.worst.py` one the largest disagreement seen) from its numbers, runs the "
            "route in the case's dtype and, in float64, autograd of the function's textbook "
            "forward in elementary ops (`torch.autograd.grad` for a gradient, dual numbers for "
            "a tangent, `torch.autograd.grad` twice for an HVP), prints both values at the "
            "worst entry and the block's error, and exits with status 1 while that error "
            "exceeds the error model's bound.  Run one with `python reports/torch/<script>`.",
        ]
    out += ["", "## The curvature libraries' routes", ""]
    out += [
        "| library | API | route | " + " | ".join(f"`{f}`" for f in functions) + " |",
        "|---|---|---|" + "---|" * len(functions),
    ]
    for peer in routes.PEERS:
        marks = []
        for f in functions:
            found = [cells[(f, peer.route, d)] for d in devices if (f, peer.route, d) in cells]
            marks.append(" / ".join("✗" if v.verdict == "refuted" else "✓" for v in found) or "—")
        out.append(f"| {peer.name} | `{peer.api}` | `{peer.route}` | " + " | ".join(marks) + " |")
    out += [
        "",
        "Read from each library's source: "
        + "; ".join(f"{p.name} at `{p.commit[:7]}`: {p.where}" for p in routes.PEERS)
        + f".  A ✗ (per device: {' / '.join(devices)}) means the route the library's "
        "Hessian-vector product takes is refuted here for that function on torch "
        f"{torch_version}; how far that carries into a network's Hessian depends on the "
        "network (the wrong block mixes the function's input with its weight).",
    ]
    out += [
        "",
        "The routes (`bntheory/verify/routes.py`): "
        + "; ".join(f"`{r.name}`: {r.title}" for r in routes.ROUTES.values())
        + ".",
        "",
        "Reproduce: `bntheory torch-check` (exit status 1 when a route is refuted; "
        "`--device cuda`, `--profile thorough`, `--function`, `--route`).",
        "",
    ]
    return "\n".join(out)


def write_torch(out: ReportDir, verdicts: list[Verdict], meta: dict) -> list[str]:
    """``torch/index.md``, ``data/torch.json`` and the refuted routes' scripts."""
    written = []
    found = findings(verdicts)
    for v in verdicts:
        if is_route(v) and v.verdict == "refuted":
            out.write(script_name(v), repro(v, found=found[(v.id, v.regime)]))
            written.append(script_name(v))
            if has_worst(v):
                out.write(worst_script_name(v), repro(v, worst=True))
                written.append(worst_script_name(v))
    out.write(DATA, json.dumps(summary(verdicts, found), indent=1) + "\n")
    out.write(PAGE, page(verdicts, meta, found))
    return written + [DATA, PAGE]
