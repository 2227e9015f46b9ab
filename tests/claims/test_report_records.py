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
    exact = ClaimInfo(
        "x.exact", "a source", r"a \le b", "problems", title="An exact claim", paper="santurkar2018"
    )
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
    beyond = index[index.index("## Claims beyond Santurkar et al.") :]
    assert "[`y.measured`](theorems/y.measured.md)" in beyond
    assert "only: supported (0.5 [0.4, 0.6])" in beyond and "x.exact" not in beyond
    md = verdicts_markdown(records, META, "quick")
    assert "## An exact claim" in md and "7 problems solved exactly" in md
    assert "s: 0.5, 95% interval [0.4, 0.6] over 2 seeds" in md
    by_id = group(records)
    page = statement_page(by_id["x.exact"], by_id, None, META)
    assert page.startswith("# `x.exact`") and "Case space: problems." in page


def test_a_measured_page_draws_its_plot_and_table():
    from bntheory.report.measured import measured_figure

    info = ClaimInfo("z.m", "src", "s", "seeds", paper="other")
    plot = {"kind": "curves", "title": "t", "series": [{"label": "a", "x": [1, 2], "y": [1, 3]}]}
    table = {"caption": "c", "columns": ["w", "v"], "rows": [[1, 0.5]]}
    ev = MeasuredEvidence(
        "s",
        1.0,
        (0.9, 1.1),
        0.95,
        1.0,
        "within",
        [0.9, 1.1],
        band=(0.5, 1.5),
        details={"plot": plot, "table": table, "predicted": 1.0},
    )
    records = [Verdict(info, r, "supported", ev, "measured") for r in ("a", "b")]
    png, svg = measured_figure(records)  # the two regimes share one panel
    assert png.startswith(b"\x89PNG") and b"<svg" in svg
    page = statement_page(records, group(records), None, META, "z.m-measured.png")
    assert "| a | **supported** | s | 1 | 95%: [0.9, 1.1] | 1, in [0.5, 1.5] | 2 |" in page
    assert "![z.m](z.m-measured.png)" in page and "- `predicted`: 1" in page
    assert "| 1 | 0.5 |" in page


def test_a_comparison_table_flags_disagreements():
    from bntheory.claims.model import SearchEvidence
    from bntheory.report.measured import grid_markdown

    def rec(layer, word, published):
        info = ClaimInfo(
            f"g.{layer}", "Table 1", "s", "cases", grid=("g", layer, "scale"), published=published
        )
        return Verdict(info, "eps=0", word, SearchEvidence(3, 0.0), "search")

    md = grid_markdown(
        "g",
        [rec("a", "holds", "invariant"), rec("b", "refuted", "invariant"), rec("c", "holds", None)],
        "meta",
    )
    assert md.count(") **≠**") == 1 and "`g.b`: found **refuted** at eps=0" in md
    assert "(n/p)" in md
