"""``reports/theorems/<id>.md`` (one page per claim: as printed, exact form or derivation notes,
verdict per regime, counterexample, tightness plot) and ``reports/index.md`` (the headline).

Pages read typed verdict records (:class:`~bntheory.claims.model.Verdict`) and dispatch on the
type of their evidence; a claim's links (its exact form, its derivation) are fields of its
description.
"""

from __future__ import annotations

from typing import Any

from bntheory.claims.model import ExactEvidence, MeasuredEvidence, Verdict
from bntheory.report.figures import TIGHTNESS_FIGURE, mean_ci, number, tightness_figure
from bntheory.report.files import ReportDir
from bntheory.report.measured import details_markdown, grid_names, measured_figure, measured_rows
from bntheory.report.meta import provenance_markdown
from bntheory.report.verdicts import (
    ROUTES_PAPER,
    beyond_rows,
    counterexample_markdown,
    display,
    empirical_rows,
    from_runs,
    group,
    regime_label,
    regimes_of,
    search_word,
    split,
    verdict_word,
)


def _exact_form(first: Verdict, by_id: dict[str, list[Verdict]]) -> list[str]:
    exact_id, proof = first.claim.exact_form, first.claim.derivation
    if not exact_id or exact_id not in by_id:
        return []
    link = f"../derivations/{proof}"
    return [
        "## Exact form",
        "",
        f"$${by_id[exact_id][0].claim.statement}$$",
        "",
        f"(`{exact_id}`; derived step by step in [{proof}]({link}).)",
        "",
    ]


def _evidence(v: Verdict, shown: set[str]) -> list[str]:
    """A record's counterexample and minimal version (an exact, regime-free one once)."""
    ev = v.evidence
    if isinstance(ev, ExactEvidence):
        if not ev.counterexample or "exact" in shown:
            return []
        if ev.regime_free:
            shown.add("exact")
        where = "every regime" if ev.regime_free else v.regime
        return [f"## Counterexample (exact, {where})", ""] + display(ev.counterexample_latex)
    out: list[str] = []
    if getattr(ev, "counterexample", None):
        out += [f"## Counterexample, {v.regime}", ""] + counterexample_markdown(
            ev.counterexample_latex
        )
    elif getattr(ev, "unconditional_counterexample", None):
        out += [f"## Counterexample once the assumptions are dropped, {v.regime}", ""]
        out += counterexample_markdown(ev.unconditional_latex)
    w = getattr(ev, "worst_case", None) or {}
    if w.get("minimal"):
        mn = w["minimal"]
        out += [
            f"Smallest violating version the search found ({v.regime}): $m = {mn['m']}$, "
            f"{mn['digits']} significant digit(s), {mn['distinct_values']} distinct values, "
            f"violation {number(mn['violation'])}.",
            "",
        ]
    return out


def statement_page(
    entries: list[Verdict],
    by_id: dict[str, list[Verdict]],
    figure: str | None,
    meta: dict,
    measured: str | None = None,
) -> str:
    """The page of one claim from its records (one per regime)."""
    first = entries[0]
    info = first.claim
    out = [
        f"# `{info.id}`",
        "",
        f"Source: {info.source}.",
        "",
        "## As printed",
        "",
        f"$${info.statement}$$",
        "",
    ]
    if info.assumptions:
        out += ["Assumptions: " + "; ".join(info.assumptions), ""]
    if info.reading:
        out += [f"Reading: {info.reading}", ""]
    out += [f"Case space: {info.case_space}.", ""]
    out += _exact_form(first, by_id)
    for note in info.notes:
        out += [note, ""]
    if info.grid is not None:
        published = info.published or "no published entry"
        out += [
            f"Published: *{published}* (comparison table "
            f"[{info.grid[0]}](../tables/{info.grid[0]}.md)).",
            "",
        ]
    out += ["## Verdict", ""]
    if all(isinstance(v.evidence, MeasuredEvidence) for v in entries):
        out += measured_rows(entries)
        if measured:
            out += [f"![{info.id}]({measured})", "", f"(`{measured}`, also as SVG.)", ""]
        out += details_markdown(entries)
    else:
        out += [
            "| regime | verdict | examples | max slack | worst-case search |",
            "|---|---|---|---|---|",
        ]
        for v in entries:
            out.append(
                f"| {v.regime} | **{verdict_word(v)}** | {v.evidence.examples} | "
                f"{number(getattr(v.evidence, 'max_slack', None))} | {search_word(v)} |"
            )
        out.append("")
    shown: set[str] = set()
    for v in entries:
        out += _evidence(v, shown)
    if figure:
        out += [
            "## Tightness",
            "",
            f"![tightness of {info.id}]({figure})",
            "",
            "Each point is the best of a multi-start L-BFGS-B search at that batch size `m` and "
            "ratio `eps/var`, re-checked by autograd (`bntheory search`).",
            "",
        ]
    out += [provenance_markdown(meta)]
    return "\n".join(out) + "\n"


def claim_files(claim_id: str, studied: bool, measured: bool = False) -> list[str]:
    """The files a claim's page may write, relative to the report's root."""
    page = [f"theorems/{claim_id}.md"]
    page += [f"theorems/{claim_id}-tightness.{ext}" for ext in ("png", "svg")] if studied else []
    return page + (
        [f"theorems/{claim_id}-measured.{ext}" for ext in ("png", "svg")] if measured else []
    )


def unjudged_page(claim: Any, meta: dict) -> str:
    """The page of a claim judged from training runs that this report did not run: what it
    states and which presets would judge it."""
    info, presets = claim.info, getattr(claim.judge, "presets", ())
    needs = ", ".join(f"`{p}`" for p in presets) or "its presets"
    out = [f"# `{info.id}`", "", f"Source: {info.source}.", "", "## As printed", ""]
    out += [f"$${info.statement}$$", ""]
    if info.reading:
        out += [f"Reading: {info.reading}", ""]
    out += [
        "## Verdict",
        "",
        f"Not judged in this report: the claim is judged from training runs of {needs}, which "
        "this report did not run. `make report` runs them; `bntheory sweep --preset "
        f"{presets[0] if presets else 'PRESET'} --seeds 3 --out DIR` judges it on its own.",
        "",
        provenance_markdown(meta),
    ]
    return "\n".join(out) + "\n"


def write_theorem_pages(
    out: ReportDir, verdicts: list[Verdict], meta: dict, unjudged: tuple = ()
) -> list[str]:
    """Every claim's page and tightness figure, and a page for each claim of ``unjudged``
    (judged from runs this report did not make); the files written."""
    written = []
    for claim in unjudged:
        out.write(f"theorems/{claim.id}.md", unjudged_page(claim, meta))
        written.append(f"theorems/{claim.id}.md")
    by_id = group(verdicts)
    for sid, entries in by_id.items():
        figure = None
        plot = tightness_figure(entries)
        if plot is not None:
            for ext, data in zip(("png", "svg"), plot):
                out.write(f"theorems/{sid}-tightness.{ext}", data)
                written.append(f"theorems/{sid}-tightness.{ext}")
            figure = f"{sid}-tightness.png"
        measured = None
        plot = measured_figure(entries)
        if plot is not None:
            for ext, data in zip(("png", "svg"), plot):
                out.write(f"theorems/{sid}-measured.{ext}", data)
                written.append(f"theorems/{sid}-measured.{ext}")
            measured = f"{sid}-measured.png"
        out.write(f"theorems/{sid}.md", statement_page(entries, by_id, figure, meta, measured))
        written.append(f"theorems/{sid}.md")
    return written


def index_markdown(
    verdicts: list[Verdict],
    landscape: dict[str, list[dict[str, Any]]],
    meta: dict,
    analogues: list[dict[str, Any]] | None = None,
) -> str:
    """``index.md``: every claim's verdicts, the layers, the landscape, and links."""
    all_verdicts = verdicts
    verdicts, beyond = split(verdicts)
    columns = regimes_of(verdicts)
    labels = [regime_label(r) for r in columns]
    out = [
        "# bntheory report: which claims about BatchNorm hold",
        "",
        provenance_markdown(meta),
        "",
        "Everything on these pages is generated by `make report` (`bntheory report`): verdicts are "
        "discovered by a Hypothesis search and a worst-case search, every counterexample is "
        "re-checked "
        "from its printed numbers, every derivation is an executable SymPy proof, and the "
        "landscape "
        "numbers come from networks trained in the same run.",
        "",
        "## The claims",
        "",
        f"| statement | as printed in | {' | '.join(labels)} | worst-case search "
        f"({'; '.join(labels)}) |",
        "|---|---|" + "---|" * len(columns) + "---|",
    ]
    for sid, entries in group(verdicts).items():
        regimes = {v.regime: v for v in entries}
        search = "; ".join(search_word(regimes[r]) for r in columns if r in regimes)
        cells = " | ".join(verdict_word(regimes[r]) if r in regimes else "—" for r in columns)
        out.append(
            f"| [`{sid}`](theorems/{sid}.md) | {entries[0].claim.source} | {cells} | {search} |"
        )
    out += [
        "",
        "The bracket after *refuted* is the re-checked counterexample's `(lhs - rhs)/scale` "
        "(for a claim settled exactly, `lhs - rhs` of its problem). All statements with their "
        "counterexamples on "
        "one page: [verdicts.md](verdicts.md); tightness over all of them: "
        f"[{TIGHTNESS_FIGURE}.png]({TIGHTNESS_FIGURE}.png).",
        "",
    ]
    if beyond:
        tables = grid_names(v.claim for v in beyond)
        out += [
            "## Claims beyond Santurkar et al.",
            "",
            "Each over a case space of its own (`bntheory/claims/catalogue/`): exact claims "
            "judged by search (*holds*/*refuted*), measured ones by a 95 % bootstrap interval "
            "over seeds (*supported*/*contradicted*/*inconclusive*, the estimate and interval in "
            "brackets).",
            "",
        ]
        out += beyond_rows(beyond) + [""]
        if tables:
            out += [
                "Comparison tables against the published ones: "
                + ", ".join(f"[{t}](tables/{t}.md)" for t in tables)
                + ".",
                "",
            ]
    route_verdicts = [v for v in all_verdicts if v.claim.paper == ROUTES_PAPER]
    if route_verdicts:
        refuted = [v for v in route_verdicts if v.verdict == "refuted"]
        names = ", ".join(f"`{v.id}`" for v in refuted[:12]) + (
            f" and {len(refuted) - 12} more" if len(refuted) > 12 else ""
        )
        out += [
            "## PyTorch's own derivatives, checked against the closed forms",
            "",
            f"{len(refuted)} of {len(route_verdicts)} (function, autodiff route, device) "
            f"claims refuted on torch {route_verdicts[0].provenance.get('torch', '?')}"
            + (f": {names}" if refuted else "")
            + ".  The grid, the errors and a standalone repro script per refuted route: "
            "[torch/index.md](torch/index.md).",
            "",
        ]
    spectra = [v for v in all_verdicts if v.id == "ghorbani2019.outliers"]
    if spectra:
        supported = sum(v.verdict == "supported" for v in spectra)
        out += [
            "## The Hessian's spectrum",
            "",
            f"Ghorbani et al.'s outliers, mode by mode: {supported} of {len(spectra)} parts "
            "supported; the densities of no normalization and BatchNorm in train and eval mode "
            "side by side: [spectrum/index.md](spectrum/index.md).",
            "",
        ]
    runs = [v for v in all_verdicts if from_runs(v)]
    if runs:
        out += [
            "## Empirical claims, judged from training runs",
            "",
            "Each judged from the landscape presets' runs over seeds, paired by seed (the same "
            "data order and initialization stream for both sides): the estimate is the mean "
            "over seeds of the per-seed statistic, the interval its 95 % BCa bootstrap "
            "interval; *supported* when the interval lies wholly on the claimed side, "
            "*contradicted* when wholly on the other, *inconclusive* otherwise. The relative "
            "effect is the mean difference over the baseline's mean, d_z the mean difference "
            "over its standard deviation across seeds.",
            "",
        ]
        out += empirical_rows(runs) + [""]
    if analogues:
        from bntheory.report.layers import analogue_rows

        out += [
            "## Theorems 1 and 2 across normalization layers",
            "",
            "Gain σ²‖ĝ‖²/(γ²‖g‖²) in each layer's own scale σ (Theorem 1's bound: gain ≤ 1); "
            "definitions, "
            "the symbolic and autograd checks of every layer, and the figure: "
            "[layers.md](layers.md).",
            "",
        ]
        out += analogue_rows(analogues) + [""]
    if landscape:
        out += [
            "## The landscape with and without BatchNorm",
            "",
            "| preset | norm | lr | loss variation | predictiveness (max) | beta-smoothness | ICS "
            "l2 | ICS cos |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, summaries in landscape.items():
            for s in summaries:
                if all(s[m]["mean"] is None for m in ("loss_variation", "ics_l2")):
                    continue  # a preset without probes (the learning-rate grid)
                out.append(
                    f"| [{name}](landscape/{name}.md) | `{s['norm']}` | {s['lr']:g} | "
                    f"{mean_ci(s['loss_variation'])} | {mean_ci(s['predictiveness_max'])} | "
                    f"{mean_ci(s['beta_smoothness'])} | {mean_ci(s['ics_l2'])} | "
                    f"{mean_ci(s['ics_cos'])} |"
                )
        out += [
            "",
            "Means over seeds of the run medians (over the probes after initialization, "
            "training-mode BatchNorm), with 95 % bootstrap intervals over seeds; figures with "
            "bands on each preset's page.",
            "",
        ]
    out += [
        "## Also here",
        "",
        "- [derivations/](derivations/README.md): every executable proof, step by step;",
        "- [layers.md](layers.md): the registered layers, their closed forms against autograd and "
        "SymPy, and Theorems 1 and 2 across layers;",
        "- [bntheory.tex](bntheory.tex): this report as one LaTeX document;",
        "- [data/](data/): the JSON behind every page.",
        "",
    ]
    return "\n".join(out) + "\n"


def write_grid_tables(out: ReportDir, verdicts: list[Verdict], meta: dict) -> list[str]:
    """Every comparison table ``tables/<name>.md`` the claims place themselves in."""
    from bntheory.report.measured import grid_markdown

    written = []
    for name in grid_names(v.claim for v in verdicts):
        out.write(f"tables/{name}.md", grid_markdown(name, verdicts, provenance_markdown(meta)))
        written.append(f"tables/{name}.md")
    return written
