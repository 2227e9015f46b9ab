"""``bntheory torch-check``: PyTorch's autodiff routes against the closed forms, the route
claims, their repro scripts (run in a fresh interpreter) and the command's exit status."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch

from bntheory import pipeline
from bntheory.claims import get_claim
from bntheory.cli import main
from bntheory.report.files import ReportDir
from bntheory.report.meta import provenance
from bntheory.report.torch import (
    has_worst,
    largest_error,
    script_name,
    shrunk_error,
    worst_script_name,
)
from bntheory.verify import routes

META = provenance(["pytest"], 0, "cpu")


def test_every_function_and_route_is_a_claim():
    """One claim per (function, route), judged per device, with torch's version recorded."""
    for f in routes.FUNCTIONS:
        for r in routes.ROUTES:
            c = get_claim(f"torch.{f}.{r}")
            assert c.info.paper == "torch" and "cpu" in c.regimes
    v = get_claim("torch.layer_norm.autograd-double-backward").verdict("cpu", "quick")
    assert v.provenance["torch"] == torch.__version__ and v.provenance["device"] == "cpu"
    assert v.verdict == "holds" and v.evidence.examples > 0
    assert 0 <= largest_error(v) <= 1  # the closest call, in units of the error model


def _perturbed(route: routes.Route, rel: float) -> routes.Route:
    """``route`` with the weight block of every HVP it returns off by ``rel`` (relative)."""

    def run(f, primals, g, tangents):
        out = route.run(f, primals, g, tangents)
        out["hvp"] = [(h[0], h[1] * (1 + rel) + rel, *h[2:]) for h in out["hvp"]]
        return out

    return routes.Route(route.name, route.kinds, run, route.title)


def test_a_perturbed_route_is_refuted(monkeypatch):
    """The check can fail: a route whose mixed block is wrong by 1e-9 is refuted, with a
    counterexample that re-checks; the true route holds on the same cases."""
    claim = get_claim("torch.layer_norm.jvp-grad")
    assert claim.verdict("cpu", "quick").verdict == "holds"
    bad = _perturbed(routes.ROUTES["jvp-grad"], 1e-9)
    monkeypatch.setitem(routes.ROUTES, "jvp-grad", bad)
    v = claim.verdict("cpu", "quick")
    assert v.verdict == "refuted"
    assert claim.judge.recheck(v.evidence.counterexample)
    assert largest_error(v) > 1


def test_check_reports_a_raising_route_and_a_refused_case():
    """A route that raises is a finding (ratio inf); a case the function itself refuses
    (training-mode batch_norm with eps = 0) is not applicable."""
    case = routes.build(
        routes.draw("group_norm", "float64", "cpu", (2, 2, 2), 0, 1e-3, "mixed", 0, 1)
    )

    def raising(f, primals, g, tangents):
        raise NotImplementedError("no such derivative")

    found = routes.check(routes.Route("raises", ("hvp",), raising, "raises"), case)
    assert found.ratio == float("inf") and found.block.startswith("raises")
    refused = routes.build(
        routes.draw("batch_norm", "float64", "cpu", (2, 2, 1), 0, 0.0, "ones", 0, 1)
    )
    assert not routes.check(routes.ROUTES["jvp-grad"], refused).applicable


def test_float32_cases_hold_for_a_correct_route():
    """float32 inputs: the route in float32 against the closed forms in float64 within the
    float32 error model."""
    for seed in range(3):
        data = routes.draw("layer_norm", "float32", "cpu", (3, 2, 2), seed, 1e-5, "mixed", 1, 1)
        found = routes.check(routes.ROUTES["autograd-double-backward"], routes.build(data))
        assert found.applicable and found.ratio <= 1, found


#: Runs each script given on the command line with ``runpy`` and prints the exit codes as
#: JSON (a script that raises counts as 1, as ``python script.py`` would exit).
RUN_SCRIPTS = """
import contextlib, io, json, runpy, sys
codes = {}
for path in sys.argv[1:]:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(path, run_name="__main__")
        codes[path] = 0
    except SystemExit as exc:
        codes[path] = exc.code
    except Exception:
        codes[path] = 1
print(json.dumps(codes))
"""


def _check(tmp_path, route_ids):
    out = ReportDir(tmp_path)
    return pipeline.torch_check(out, "cpu", "quick", 1, META, ["layer_norm"], route_ids)


def test_repro_scripts_reproduce_in_a_fresh_interpreter(tmp_path):
    """Every refuted route gets a script that, run alone, prints the two disagreeing numbers
    and exits 1; the page and its JSON list it."""
    written, verdicts = _check(tmp_path, list(routes.ROUTES))
    refuted = [v for v in verdicts if v.verdict == "refuted"]
    if not refuted:
        pytest.skip(f"no route through layer_norm is refuted on torch {torch.__version__}")
    doc = json.loads((tmp_path / "data/torch.json").read_text())
    page = (tmp_path / "torch/index.md").read_text()
    for v in refuted:
        rel = script_name(v)
        assert rel in written and v.id in page
        rec = next(r for r in doc["routes"] if r["id"] == v.id)
        assert rec["script"] == rel
        run = subprocess.run(
            [sys.executable, str(tmp_path / rel)], capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 1, (rel, run.stdout, run.stderr)
        if "raises" in rec["block"]:
            continue
        got = float(re.search(r"^route\s+(\S+)", run.stdout, re.M).group(1))
        want = float(re.search(r"^reference\s+(\S+)", run.stdout, re.M).group(1))
        allowed = float(re.search(r"allowed (\S+)", run.stdout).group(1))
        assert abs(got - want) > allowed
        assert got == pytest.approx(rec["route_value"], rel=1e-12, abs=1e-300)


def test_torch_check_exit_status(tmp_path, capsys):
    """0 when every selected route holds (the refuted case: the next test)."""
    assert main(["torch-check", "--function", "rms_norm", "--route", "jvp-grad"]) == 0
    assert "0 of 1 routes refuted" in capsys.readouterr().out


def test_torch_check_fails_on_a_refuted_route(monkeypatch, capsys):
    """The command's exit status is 1 when a route is refuted."""
    monkeypatch.setitem(routes.ROUTES, "jvp-grad", _perturbed(routes.ROUTES["jvp-grad"], 1e-6))
    assert main(["torch-check", "--function", "layer_norm", "--route", "jvp-grad"]) == 1
    assert "1 of 1 routes refuted" in capsys.readouterr().out


def test_torch_check_names_an_unknown_route(capsys):
    """An unknown function or route is named, with the known ones."""
    assert main(["torch-check", "--route", "jvp-jacfwd"]) != 0
    assert "unknown route jvp-jacfwd" in capsys.readouterr().err


def test_torch_check_every_route_quick(tmp_path):
    """The whole check in the quick profile: every (function, route) judged on cpu, the
    page lists every one, and the refuted ones each have a script (and one of their worst
    case), each reproducing the disagreement in a fresh interpreter."""
    written, verdicts = pipeline.torch_check(ReportDir(tmp_path), "cpu", "quick", 2, META)
    assert len(verdicts) == len(routes.FUNCTIONS) * len(routes.ROUTES)
    page = (tmp_path / "torch/index.md").read_text()
    assert all(f"`{r}`" in page for r in routes.ROUTES)
    scripts = []
    for v in verdicts:
        assert v.evidence.examples > 0, v.id  # judged on cases inside the function's domain
        if v.verdict == "refuted":
            assert (tmp_path / script_name(v)).exists()
            scripts.append(tmp_path / script_name(v))
            if has_worst(v):  # the largest disagreement seen, beside the shrunk one
                assert largest_error(v) >= shrunk_error(v)
                scripts.append(tmp_path / worst_script_name(v))

    # every script in one fresh interpreter (torch imported once), each with its own globals;
    # test_repro_scripts_reproduce_in_a_fresh_interpreter runs some in one interpreter each
    codes = json.loads(
        subprocess.run(
            [sys.executable, "-c", RUN_SCRIPTS, *map(str, scripts)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()[-1]
    )
    assert codes == {str(p): 1 for p in scripts}, codes
    # eval mode is affine in x: its second-order routes agree with the closed forms
    assert all(v.verdict == "holds" for v in verdicts if ".eval." in v.id and "jacrev" not in v.id)


@pytest.mark.gpu
def test_torch_check_on_cuda(tmp_path):
    """The routes on CUDA, the closed forms computed there in float64."""
    written, verdicts = pipeline.torch_check(
        ReportDir(tmp_path), "cuda", "quick", 1, META, ["layer_norm", "batch_norm"]
    )
    assert verdicts and all(v.regime == "cuda" for v in verdicts)


def test_readme_torch_table_matches_the_committed_report():
    """The README's table of refuted routes is the committed report's: every (route,
    function) pair it names is refuted there, every refuted pair is named, the count and the
    largest errors agree, and the repro scripts exist."""
    from pathlib import Path

    root = Path(__file__).parents[2]
    readme = (root / "README.md").read_text()
    doc = json.loads((root / "reports" / "data" / "torch.json").read_text())
    refuted = {(r["function"], r["route"]): r for r in doc["routes"] if r["verdict"] == "refuted"}
    section = readme.split("## Headline: PyTorch's own")[1].split("\n## ")[0]
    assert f"{len(refuted)} of {len(doc['routes'])} refuted" in section
    named = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        pairs = {
            (f, r)
            for r in re.findall(r"`([^`]+)`", cells[0])
            for f in re.findall(r"`([^`]+)`", cells[1])
        }
        assert pairs <= set(refuted), pairs - set(refuted)
        named |= pairs
        errors = [refuted[p]["largest_error"] for p in pairs]
        if "∞" in cells[3]:
            assert all(e == "inf" for e in errors)
            continue
        lo, hi = (float(x) for x in cells[3].split("–"))
        assert abs(min(errors) - lo) <= 0.006 * lo and abs(max(errors) - hi) <= 0.006 * hi
    assert named == set(refuted)
    for r in refuted.values():
        assert (root / "reports" / r["script"]).is_file()
