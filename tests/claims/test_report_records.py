"""The report writes typed records: a mixed study draws both objectives, and a claim of a
new evidence or regime layout gets its page without any writer naming it."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt

from bntheory.claims.model import ClaimInfo, ExactEvidence, MeasuredEvidence, Verdict
from bntheory.report.figures import tightness_axes
from bntheory.report.theorems import index_markdown, statement_page
from bntheory.report.verdicts import group, verdicts_markdown

CLAIMS = Path(__file__).parents[2] / "reports" / "data" / "claims.json"
META = {"command": "test", "seed": 0, "device": "cpu", "versions": {}, "generated": "now"}


def test_a_study_of_mixed_objectives_names_both():
    records = [Verdict.from_json(r) for r in json.loads(CLAIMS.read_text())["claims"]]
    paper = [v for v in records if v.id == "thm2.paper"]
    assert {v.evidence.tightness["objective"] for v in paper} == {"tightness", "violation"}
    fig, ax = plt.subplots()
    assert tightness_axes(ax, paper)
    title = ax.get_title()
    plt.close(fig)
    assert "tightness (eps=0)" in title and "worst violation (eps>0)" in title


def test_new_claims_render_from_their_records_alone():
    exact = ClaimInfo("x.exact", "a source", r"a \le b", "problems", title="An exact claim")
    measured = ClaimInfo("y.measured", "another", r"s < 1", "seeds")
    records = [
        Verdict(exact, "only", "holds", ExactEvidence(7, 0.5), "exact"),
        Verdict(
            measured,
            "only",
            "supported",
            MeasuredEvidence("s", 0.5, (0.4, 0.6), 0.95, 1.0, "less", [0.4, 0.6]),
            "measured",
        ),
    ]
    index = index_markdown(records, {}, META)
    assert "| statement | as printed in | only | worst-case search (only) |" in index
    assert (
        "[`y.measured`](theorems/y.measured.md)" in index and "supported (0.5 [0.4, 0.6])" in index
    )
    md = verdicts_markdown(records, META, "quick")
    assert "## An exact claim" in md and "7 problems solved exactly" in md
    assert "s: 0.5, 95% interval [0.4, 0.6] over 2 seeds" in md
    by_id = group(records)
    page = statement_page(by_id["x.exact"], by_id, None, META)
    assert page.startswith("# `x.exact`") and "Case space: problems." in page
