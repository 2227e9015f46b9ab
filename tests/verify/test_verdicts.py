"""Verdicts are discovered, re-checked independently, and agree with the proofs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from torch.func import grad, hessian

from bntheory.cases.theorem import Case, lhat
from bntheory.claims import claims, get_claim
from bntheory.claims.model import EXACT_VERDICTS, MEASURED_VERDICTS
from bntheory.claims.search import PROFILES
from bntheory.claims.theorems import StatementJudge, statement_claim
from bntheory.cli import main
from bntheory.theorems.case import quantities
from bntheory.theorems.catalogue import REGIMES, STATEMENTS, Statement, get_statement
from bntheory.theorems.margin import margin

JOBS = [(s, r) for s in STATEMENTS for r in REGIMES]
COMMITTED = Path(__file__).parents[2] / "reports" / "data" / "verdicts.json"


def independent_sides(statement: Statement, case: Case) -> tuple[float, float]:
    """lhs and rhs with the full autograd Hessian (not the Hessian-vector product the search
    uses) and the closed-form backward pass for ghat."""
    q = quantities(case)
    f = lhat(case)
    full = hessian(f)(case.y)
    g_hat = grad(f)(case.y)
    q.ghat_Hhat_ghat = float(g_hat @ full @ g_hat)
    return sum(statement.lhs(q)), sum(statement.rhs(q))


# Identities established symbolically in proofs/ (p3: Theorem 1 exact and, at eps = 0, the
# 1/m form; p4: Theorem 2 exact and, at eps = 0, the paper's first form): the numeric search
# must never refute them.
PROVED = {
    ("thm1.exact", "eps=0"),
    ("thm1.exact", "eps>0"),
    ("thm1.transcribed", "eps=0"),
    ("thm2.exact", "eps=0"),
    ("thm2.exact", "eps>0"),
    ("thm2.paper", "eps=0"),
}


def test_proved_identities_are_catalogued():
    assert PROVED <= {(s.id, r) for s, r in JOBS}


@pytest.mark.parametrize("statement,regime", JOBS, ids=[f"{s.id}-{r}" for s, r in JOBS])
def test_verdict_is_discovered_and_rechecked(statement, regime, device):
    claim = get_claim(statement.id)
    v = StatementJudge(statement, device=str(device)).judge(claim, regime, "ci")
    ev = v.evidence
    if (statement.id, regime) in PROVED:
        assert v.verdict == "holds", (
            f"the search refuted an identity that proofs/ establishes: {ev.counterexample}"
        )
    if v.verdict == "refuted":
        case = Case.from_json(ev.counterexample, device)
        assert case.m == ev.counterexample["m"] and (regime == "eps=0") == (case.eps == 0)
        lhs, rhs = independent_sides(statement, case)
        mg = margin(statement, case)
        gap = (rhs - lhs) if statement.relation == "<=" else -abs(rhs - lhs)
        assert gap < -mg.tolerance, (
            f"counterexample does not re-check independently: {lhs} vs {rhs}"
        )
        assert all(a.holds(quantities(case)) for a in statement.assumptions)
    else:
        assert ev.examples >= PROFILES["ci"] // 3, (
            "the search must have judged many applicable cases"
        )
        assert ev.counterexample is None


def test_a_planted_false_statement_is_refuted():
    exact = get_statement("thm1.exact")
    planted = Statement(
        "planted", 1, "test", "", exact.lhs, lambda q: [0.999 * t for t in exact.rhs(q)]
    )
    v = statement_claim(planted).verdict("eps=0", "ci")
    assert v.verdict == "refuted" and v.evidence.violation > 0


def test_committed_counterexamples_replay():
    """The counterexamples in the committed report (`make report`) still violate their
    statements."""
    doc = json.loads(COMMITTED.read_text())
    refuted = [v for v in doc["statements"] if v["verdict"] == "refuted"]
    assert refuted, "the committed report lists no refuted claim"
    for v in refuted:  # each claim's own judge replays its case space's numbers
        assert get_claim(v["id"]).judge.recheck(v["counterexample"]), v["id"]


def test_verify_cli_writes_schema(tmp_path, capsys):
    assert main(["verify", "--out", str(tmp_path), "--profile", "quick", "--jobs", "2"]) == 0
    doc = json.loads((tmp_path / "verdicts.json").read_text())
    n_claims = sum(len(c.regimes) for c in claims())
    assert doc["schema"] == 1 and len(doc["statements"]) == n_claims
    keys = {"id", "regime", "source", "latex", "verdict", "assumptions", "examples"}
    for v in doc["statements"]:
        assert keys <= set(v) and v["regime"] in get_claim(v["id"]).regimes
        assert v["verdict"] in EXACT_VERDICTS + MEASURED_VERDICTS
        if (v.get("counterexample") or {}).get("y"):  # a BatchNorm channel's case
            ce = v["counterexample"]
            assert (
                len(ce["y"]) == ce["m"]
                and len(ce["H"]) == ce["m"]
                and all(len(r) == ce["m"] for r in ce["H"])
            )
    assert "thm1.seed" in (tmp_path / "verdicts.md").read_text()
    records = json.loads((tmp_path / "claims.json").read_text())
    assert records["schema"] == 1 and len(records["claims"]) == n_claims
    for r in records["claims"]:
        assert {"id", "regime", "verdict", "evidence", "judge", "claim"} <= set(r)
    out = capsys.readouterr().out
    assert "ioffe2015.output-moments" in out  # a claim of another case space, judged too


def test_readme_headline_table_matches_the_committed_report():
    """The README's verdict table is copied from the report: it must say what the report says."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    doc = json.loads(COMMITTED.read_text())
    rows = {line.split("`")[1]: line for line in readme.splitlines() if line.startswith("| `")}
    shown = [v for v in doc["statements"] if v["id"] in rows and v["verdict"] in EXACT_VERDICTS]
    assert {v["id"] for v in shown} >= {"thm1.seed", "thm2.paper", "lemma4.5"}  # a headline
    for v in shown:  # the README shows a selection of the claims, each as the report has it
        row = rows[v["id"]]
        cell = row.split("|")[3 if v["regime"] == "eps=0" else 4]
        word = {"holds": "holds", "refuted": "refuted", "holds-under-assumptions": "holds under"}[
            v["verdict"]
        ]
        assert cell.strip().startswith(word), (v["id"], v["regime"], cell)
        if v["violation"] is not None:
            shown = float(cell.split("(")[1].rstrip(") "))
            assert abs(shown - v["violation"]) <= 0.05 * v["violation"], (
                v["id"],
                v["regime"],
                shown,
            )


def _close(shown: str, value: float) -> bool:
    """A README number (3 significant digits, maybe '1.97e3' or '−0.0007') against the report's."""
    x = float(shown.replace("−", "-"))
    return abs(x - value) <= 0.006 * abs(value) + 5e-5


def test_readme_search_numbers_match_the_committed_report():
    """The README's worst-case column is copied from the report too."""
    root = Path(__file__).parents[2]
    readme = (root / "README.md").read_text()
    doc = json.loads(COMMITTED.read_text())
    for v in doc["statements"]:
        t = v.get("tightness")
        if not t:
            continue
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{v['id']}` |"))
        cell = row.split("|")[5]
        if t["objective"] == "tightness":
            assert "attained" in cell and t["attained"], (v["id"], cell)
        else:
            shown = [
                float(x)
                for x in re.findall(r"violation ([0-9.]+)", cell) + re.findall(r"/ ([0-9.]+)", cell)
            ]
            assert any(abs(x - t["sup"]) <= 0.006 for x in shown), (
                v["id"],
                v["regime"],
                cell,
                t["sup"],
            )


def test_readme_layer_tables_match_the_committed_report():
    """The README's tables across layers are copied from reports/data/layers.json and
    reports/data/landscape-layers.json."""
    root = Path(__file__).parents[2]
    readme = (root / "README.md").read_text()
    analogues = {
        a["name"]: {r["regime"]: r for r in a["regimes"]}
        for a in json.loads((root / "reports" / "data" / "layers.json").read_text())["analogues"]
    }
    seen = set()
    for line in readme.splitlines():
        if not line.startswith("| `") or "gain" in line:
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = re.findall(r"`([a-z0-9]+)`", cells[0])
        if not names or not all(n in analogues for n in names):
            continue
        sups = [float(x) for x in cells[2].split("/")]
        for name in names:
            seen.add(name)
            for regime, shown in zip(("eps=0", "eps>0"), sups):
                assert _close(str(shown), analogues[name][regime]["sup_gain"]), (
                    name,
                    regime,
                    shown,
                )
            exceeded = any(r["excess"] > 1 for r in analogues[name].values())
            assert ("exceeded" in cells[3]) == exceeded, (name, cells[3])
    assert seen == set(analogues)
    doc = json.loads((root / "reports" / "data" / "landscape-layers.json").read_text())
    rows = [line for line in readme.splitlines() if line.startswith("| digits CNN (layers) |")]
    over = doc["over_seeds"]["summaries"]
    assert len(over) == 10 and len(doc["over_seeds"]["seeds"]) >= 3
    shown = {line.split("|")[2].strip() for line in rows}
    assert len(rows) == len(shown) >= 5 and {"none", "batchnorm", "linfbatchnorm"} <= shown
    for line in rows:  # means over seeds with their intervals
        cells = [c.strip() for c in line.strip("|").split("|")]
        s = next(s for s in over if s["norm"] == cells[1])
        for shown, key in zip(
            cells[2:], ("loss_variation", "predictiveness_max", "beta_smoothness", "ics_l2")
        ):
            mean, lo, hi = (float(x) for x in re.findall(r"[-−0-9.e]+", shown.replace("−", "-")))
            for x, y in ((mean, s[key]["mean"]), (lo, s[key]["lo"]), (hi, s[key]["hi"])):
                assert _close(str(x), y), (cells[1], key, shown, s[key])


def test_readme_measured_table_matches_the_committed_report():
    """The README's measured rows (claim, regime, verdict, estimate) are the report's."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    records = json.loads((COMMITTED.parent / "claims.json").read_text())["claims"]
    measured = {(r["id"], r["regime"]): r for r in records if r["judge"] == "measured"}
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in readme.splitlines()
        if line.startswith("| `") and line.count("|") == 6
    ]
    shown = [r for r in rows if (r[0].strip("`"), r[1]) in measured]
    assert len(shown) >= 8
    for claim, regime, verdict, estimate, _ in shown:
        r = measured[(claim.strip("`"), regime)]
        assert verdict == r["verdict"], (claim, regime)
        assert _close(estimate.split(" [")[0], r["evidence"]["estimate"]), (claim, regime)
        if "[" in estimate:  # and its interval
            lo, hi = (x.strip() for x in estimate.split("[")[1].rstrip("]").split(","))
            for x, y in zip((lo, hi), r["evidence"]["interval"]):
                assert _close(x, y), (claim, regime, estimate)
    runs = {r["id"] for r in records if r["provenance"].get("from") == "runs"}
    assert runs <= {r[0].strip("`") for r in shown}  # every claim judged from runs is shown
