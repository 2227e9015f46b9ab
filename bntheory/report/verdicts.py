"""``data/claims.json``, ``data/verdicts.json`` and ``verdicts.md``: every claim as printed,
its verdict per regime, and its evidence.

``claims.json`` holds the typed records (:class:`~bntheory.claims.model.Verdict`, one per
claim and regime, with a schema version); ``verdicts.json`` the same records in the flat
layout of :meth:`~bntheory.claims.model.Verdict.flat`.  Pages dispatch on the type of a
record's evidence, never on a claim's id.
"""

from __future__ import annotations

import json
from typing import Any

from bntheory.claims.model import SCHEMA as CLAIMS_SCHEMA
from bntheory.claims.model import ExactEvidence, MeasuredEvidence, SearchEvidence, Verdict
from bntheory.report.figures import number
from bntheory.report.files import ReportDir
from bntheory.report.meta import provenance_markdown

SCHEMA = 1


def claims_json(verdicts: list[Verdict], meta: dict, profile: str) -> dict[str, Any]:
    """The document of ``claims.json``."""
    return {
        "schema": CLAIMS_SCHEMA,
        "meta": meta,
        "profile": profile,
        "claims": [v.to_json() for v in verdicts],
    }


def verdicts_json(verdicts: list[Verdict], meta: dict, profile: str) -> dict[str, Any]:
    """The document of ``verdicts.json`` (the flat layout)."""
    return {
        "schema": SCHEMA,
        "meta": meta,
        "profile": profile,
        "statements": [v.flat() for v in verdicts],
    }


def group(verdicts: list[Verdict]) -> dict[str, list[Verdict]]:
    """The records by claim id, in catalogue order."""
    out: dict[str, list[Verdict]] = {}
    for v in verdicts:
        out.setdefault(v.id, []).append(v)
    return out


#: The publication whose claims the index's first table holds.
SUBJECT = "santurkar2018"
#: The ``paper`` of the claims about PyTorch's own derivatives: their page is
#: ``torch/index.md`` (:mod:`bntheory.report.torch`), not the index's tables.
ROUTES_PAPER = "torch"


def from_runs(v: Verdict) -> bool:
    """Whether a record was judged from training runs (an empirical claim)."""
    return v.provenance.get("from") == "runs"


def split(verdicts: list[Verdict]) -> tuple[list[Verdict], list[Verdict]]:
    """The records of the subject's claims and those of every other publication, leaving out
    the claims judged from training runs (:func:`empirical_rows`) and those about PyTorch's
    own derivatives (:data:`ROUTES_PAPER`)."""
    rest = [v for v in verdicts if not from_runs(v) and v.claim.paper != ROUTES_PAPER]
    return [v for v in rest if v.claim.paper == SUBJECT], [
        v for v in rest if v.claim.paper != SUBJECT
    ]


def empirical_rows(verdicts: list[Verdict], link: str = "theorems/") -> list[str]:
    """The table of the claims judged from training runs: one row per claim and regime, the
    verdict with the estimate and interval, the effect size where there is one, the seeds."""
    out = [
        "| claim | regime | verdict (mean [95 % interval]) | relative effect | d_z | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        if not from_runs(v):
            continue
        d = v.evidence.details
        out.append(
            f"| [`{v.id}`]({link}{v.id}.md) | {v.regime} | {verdict_word(v)} | "
            f"{number(d.get('relative_effect'))} | {number(d.get('dz'))} | "
            f"{len(v.evidence.samples)} |"
        )
    return out


def beyond_rows(verdicts: list[Verdict], link: str = "theorems/") -> list[str]:
    """The table "claims beyond Santurkar et al.": one row per claim, its verdict per regime
    (a measured one with its estimate and interval)."""
    out = ["| claim | source | verdicts |", "|---|---|---|"]
    for sid, entries in group(verdicts).items():
        cells = "; ".join(f"{regime_label(v.regime)}: {verdict_word(v)}" for v in entries)
        out.append(f"| [`{sid}`]({link}{sid}.md) | {entries[0].claim.source} | {cells} |")
    return out


def regimes_of(verdicts: list[Verdict]) -> list[str]:
    """The regimes of the records, in the order they first appear (the table's columns)."""
    return list(dict.fromkeys(v.regime for v in verdicts))


def regime_label(regime: str) -> str:
    """``eps=0`` as ``eps = 0`` for a table's header."""
    return regime.replace("=", " = ").replace(">", " > ").replace("<", " < ")


def verdict_word(v: Verdict) -> str:
    """The verdict in words, with the re-checked violation of a refuted claim."""
    word = {"holds-under-assumptions": "holds under its assumptions"}.get(v.verdict, v.verdict)
    violation = getattr(v.evidence, "violation", None)
    if v.verdict == "refuted" and violation is not None:
        word += f" ({number(violation)})"
    if isinstance(v.evidence, MeasuredEvidence):
        lo, hi = v.evidence.interval
        word += f" ({number(v.evidence.estimate)} [{number(lo)}, {number(hi)}])"
    return word


def search_word(v: Verdict) -> str:
    """The worst-case study's result in words (``—`` without one)."""
    t = getattr(v.evidence, "tightness", None)
    if not t:
        return "—"
    if t["objective"] == "tightness":
        return f"sup lhs/rhs {number(t['sup'])}" + (", attained" if t.get("attained") else "")
    return f"violation up to {number(t['sup'])}"


def display(formulas: list[str]) -> list[str]:
    """Display formulas as Markdown blocks."""
    out = []
    for formula in formulas:
        out += [f"$${formula}$$", ""]
    return out


def counterexample_markdown(formulas: list[str]) -> list[str]:
    """A case's display formulas (exact numbers are in the JSON)."""
    return display(formulas) + [
        "(The case is displayed to 6 digits and the sides to 10; the exact float64 numbers, "
        "which replay the case, are in the JSON.)",
        "",
    ]


def _search_section(v: Verdict) -> list[str]:
    ev = v.evidence
    out = [f"### `{v.id}` ({v.regime}): {v.verdict}", "", f"$${v.claim.statement}$$", ""]
    if v.claim.assumptions:
        out += ["Assumptions: " + "; ".join(v.claim.assumptions), ""]
    if v.claim.reading:
        out += [f"Reading: {v.claim.reading}", ""]
    if ev.refuted_by_search:
        out += [
            "Refuted by the worst-case search (its tightness search ran into this re-checked "
            "violation; the random search had missed it).",
            "",
        ]
    if ev.counterexample:
        out += ["Counterexample:", ""] + counterexample_markdown(ev.counterexample_latex)
    elif ev.unconditional_counterexample:
        out += ["Counterexample once the assumptions are dropped:", ""]
        out += counterexample_markdown(ev.unconditional_latex)
    return out


def exact_markdown(v: Verdict) -> list[str]:
    """The section of a claim settled exactly (its own heading, the claim's ``title``)."""
    ev: ExactEvidence = v.evidence
    regimes = "the same in every regime" if ev.regime_free else v.regime
    out = [
        f"## {v.claim.title or v.id}",
        "",
        f"$${v.claim.statement}$$",
        "",
        f"Reading: {v.claim.reading}",
        "",
        f"Verdict ({regimes}): **{v.verdict}** — {ev.examples} {ev.method}.",
        "",
    ]
    if ev.counterexample:
        out += ["Counterexample (exact):", ""] + display(ev.counterexample_latex)
    if ev.control:
        c = ev.control
        out += [
            f"Control, {ev.control_text}: {c['violated']} of {c['problems']} problems violate "
            f"it; largest relative slack {number(c['max_slack'])}.",
            "",
        ]
    return out


def tightness_markdown(verdicts: list[Verdict], figure: str | None) -> list[str]:
    """The worst-case study of every studied claim, as a table."""
    rows = [v for v in verdicts if getattr(v.evidence, "tightness", None)]
    if not rows:
        return []
    out = [
        "## Tightness and worst cases",
        "",
        "For each statement that holds, the largest `lhs/rhs` the worst-case search "
        "(`bntheory search`, L-BFGS-B from several starts, every reported case re-checked by "
        "autograd) found over the grid of batch sizes `m` and, for eps > 0, ratios `eps/var`; "
        "1 means the bound is attained. For a refuted statement, its largest relative violation "
        "`(lhs - rhs)/scale`, and the smallest version of it (fewest samples, fewest significant "
        "digits) that still violates.",
        "",
    ]
    if figure:
        out += [
            f"![tightness and worst cases]({figure}.png)",
            "",
            f"(`{figure}.png`, also as SVG; from the same run.)",
            "",
        ]
    out += [
        "| statement | regime | searched | sup found | attained | worst at m | eps/var | minimal "
        "version |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in rows:
        t, w = v.evidence.tightness, v.evidence.worst_case or {}
        mn = w.get("minimal")
        minimal = (
            "—"
            if not mn
            else (f"m={mn['m']}, {mn['digits']} digit(s), {mn['distinct_values']} distinct values")
        )
        attained = {True: "yes", False: "no"}.get(t.get("attained"), "—")
        out.append(
            f"| `{v.id}` | {v.regime} | {t['objective']} | {number(t['sup'])} | {attained} | "
            f"{w.get('m', '—')} | {number(w.get('eps_ratio'))} | {minimal} |"
        )
    return out + [""]


def measured_markdown(v: Verdict) -> list[str]:
    """The section of a measured claim: estimate, interval and samples."""
    ev: MeasuredEvidence = v.evidence
    lo, hi = ev.interval
    return [
        f"### `{v.id}` ({v.regime}): {v.verdict}",
        "",
        f"$${v.claim.statement}$$",
        "",
        f"{ev.statistic}: {number(ev.estimate)}, {ev.level:.0%} interval "
        f"[{number(lo)}, {number(hi)}] over {ev.examples} seeds ({ev.method}); claimed "
        f"{ev.alternative} than {number(ev.threshold)}.",
        "",
    ]


def verdicts_markdown(
    verdicts: list[Verdict], meta: dict, profile: str, figure: str | None = None
) -> str:
    """``verdicts.md``: the table of every record, then each claim's evidence."""
    out = [
        "# Every claim, judged",
        "",
        provenance_markdown(meta),
        "",
        f"Verdicts are discovered by a Hypothesis search (profile `{profile}`) of each claim's "
        "case space for a case that violates the statement by more than rounding explains, or by "
        "exact computation; a found counterexample is re-checked from its printed numbers. "
        "*max slack* is the largest `(rhs - lhs) / scale` seen (0 for an identity).",
        "",
        "| statement | source | regime | verdict | examples | max slack | violation |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        ev = v.evidence
        out.append(
            f"| `{v.id}` | {v.claim.source} | {v.regime} | **{v.verdict}** | {ev.examples} | "
            f"{number(getattr(ev, 'max_slack', None))} | "
            f"{number(getattr(ev, 'violation', None))} |"
        )
    out += ["", "## Statements and counterexamples", ""]
    for v in verdicts:
        if isinstance(v.evidence, SearchEvidence):
            out += _search_section(v)
        elif isinstance(v.evidence, MeasuredEvidence):
            out += measured_markdown(v)
    out += tightness_markdown(verdicts, figure)
    for _sid, entries in group(verdicts).items():
        exact = [v for v in entries if isinstance(v.evidence, ExactEvidence)]
        for v in exact[:1] if exact and exact[0].evidence.regime_free else exact:
            out += exact_markdown(v)
    return "\n".join(out) + "\n"


def write_verdicts(
    out: ReportDir,
    verdicts: list[Verdict],
    meta: dict,
    profile: str,
    json_name: str = "verdicts.json",
    md_name: str = "verdicts.md",
    claims_name: str = "claims.json",
    figure: str | None = None,
) -> list[str]:
    """Write ``claims.json``, ``verdicts.json``, ``verdicts.md`` and, with ``figure`` (a path
    stem under ``out``) and a studied claim, the tightness figure as PNG and SVG."""
    written = []
    if figure and any(getattr(v.evidence, "tightness", None) for v in verdicts):
        from bntheory.report.figures import tightness_figure

        png, svg = tightness_figure(verdicts)
        out.write(figure + ".png", png)
        out.write(figure + ".svg", svg)
        written += [figure + ".png", figure + ".svg"]
    else:
        figure = None
    out.write(claims_name, json.dumps(claims_json(verdicts, meta, profile), indent=1) + "\n")
    out.write(json_name, json.dumps(verdicts_json(verdicts, meta, profile), indent=1) + "\n")
    out.write(md_name, verdicts_markdown(verdicts, meta, profile, figure))
    return written + [claims_name, json_name, md_name]
