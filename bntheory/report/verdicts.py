"""``verdicts.json`` and ``verdicts.md``: each statement as printed, its verdict per regime,
and the counterexample's numbers."""

from __future__ import annotations

import json

from bntheory.report import latex
from bntheory.report.files import ReportDir
from bntheory.report.meta import provenance_markdown

SCHEMA = 1


def verdicts_json(verdicts: list[dict], meta: dict, profile: str) -> dict:
    return {"schema": SCHEMA, "meta": meta, "profile": profile, "statements": verdicts}


def _number(x: float | None) -> str:
    return "—" if x is None else "0" if x == 0 else f"{x:.3g}"


def verdicts_markdown(doc: dict, figure: str | None = None) -> str:
    out = ["# Theorems 1, 2, 4.4 and Lemma 4.5: every published form, judged", "", provenance_markdown(doc["meta"]), "",
           f"Verdicts are discovered by a Hypothesis search (profile `{doc['profile']}`) for a case "
           "`(y, gamma, beta, eps, g, H)` that violates the statement by more than rounding explains; "
           "a found counterexample is re-checked from its printed numbers. *max slack* is the largest "
           "`(rhs - lhs) / scale` seen (0 for an identity).", "",
           "| statement | source | regime | verdict | examples | max slack | violation |",
           "|---|---|---|---|---|---|---|"]
    for v in doc["statements"]:
        out.append(f"| `{v['id']}` | {v['source']} | {v['regime']} | **{v['verdict']}** | {v['examples']} | "
                   f"{_number(v['max_slack'])} | {_number(v['violation'])} |")
    out += ["", "## Statements and counterexamples", ""]
    for v in doc["statements"]:
        if v["id"] == "lemma4.5":  # a weight-space statement: its own section below
            continue
        out += [f"### `{v['id']}` ({v['regime']}): {v['verdict']}", "", f"$${v['latex']}$$", ""]
        if v["assumptions"]:
            out += ["Assumptions: " + "; ".join(v["assumptions"]), ""]
        if v.get("reading"):
            out += [f"Reading: {v['reading']}", ""]
        if v.get("refuted_by_search"):
            out += ["Refuted by the worst-case search (its tightness search ran into this re-checked violation; "
                    "the random search had missed it).", ""]
        ce = v["counterexample"] or v.get("unconditional_counterexample")
        if ce:
            label = "Counterexample" if v["counterexample"] else "Counterexample once the assumptions are dropped"
            out += [f"{label}:", ""] + counterexample_markdown(ce, v.get("sides") if v["counterexample"] else
                                                            v.get("unconditional_sides"))
    out += tightness_markdown(doc, figure) + lemma_markdown(doc)
    return "\n".join(out) + "\n"


def counterexample_markdown(ce: dict, sides: dict | None) -> list[str]:
    """A case as display math (its exact numbers are in the JSON), and both sides evaluated."""
    out = []
    for formula in latex.counterexample_formulas(ce, sides):
        out += [f"$${formula}$$", ""]
    return out + ["(Displayed to 6 digits; the exact float64 numbers, which replay the case, are in the JSON.)", ""]


def tightness_markdown(doc: dict, figure: str | None) -> list[str]:
    rows = [v for v in doc["statements"] if v.get("tightness")]
    if not rows:
        return []
    out = ["## Tightness and worst cases", "",
           "For each statement that holds, the largest `lhs/rhs` the worst-case search "
           "(`bntheory search`, L-BFGS-B from several starts, every reported case re-checked by autograd) "
           "found over the grid of batch sizes `m` and, for eps > 0, ratios `eps/var`; 1 means the bound is "
           "attained. For a refuted statement, its largest relative violation `(lhs - rhs)/scale`, and the "
           "smallest version of it (fewest samples, fewest significant digits) that still violates.", ""]
    if figure:
        out += [f"![tightness and worst cases]({figure}.png)", "",
                f"(`{figure}.png`, also as SVG; from the same run.)", ""]
    out += ["| statement | regime | searched | sup found | attained | worst at m | eps/var | minimal version |",
            "|---|---|---|---|---|---|---|---|"]
    for v in rows:
        t, w = v["tightness"], v.get("worst_case") or {}
        mn = w.get("minimal")
        minimal = "—" if not mn else f"m={mn['m']}, {mn['digits']} digit(s), {mn['distinct_values']} distinct values"
        attained = {True: "yes", False: "no"}.get(t.get("attained"), "—")
        out.append(f"| `{v['id']}` | {v['regime']} | {t['objective']} | {_number(t['sup'])} | {attained} | "
                   f"{w.get('m', '—')} | {_number(w.get('eps_ratio'))} | {minimal} |")
    return out + [""]


def lemma_markdown(doc: dict) -> list[str]:
    rows = [v for v in doc["statements"] if v["id"] == "lemma4.5"]
    if not rows:
        return []
    v = rows[0]
    out = ["## Lemma 4.5 (favourable initialization)", "", f"$${v['latex']}$$", "",
           f"Reading: {v['reading']}", "",
           f"Verdict (both regimes; the optima do not depend on eps): **{v['verdict']}** — "
           f"{v['examples']} random integer problems solved exactly (SymPy rationals).", ""]
    ce = v.get("counterexample")
    if ce:
        out += ["Counterexample (exact):", ""]
        for formula in latex.lemma_formulas(ce):
            out += [f"$${formula}$$", ""]
    c = v.get("centered_inputs")
    if c:
        out += [f"With centered inputs ($\\mathbf 1^\\top X = 0$, so $w_c = W^*$) the lemma held on all "
                f"{c['problems']} problems ({c['violated']} violations), with equality (largest slack "
                f"{_number(c['max_slack'])}): it holds exactly when centering does not change the optimal direction.", ""]
    return out


def write_verdicts(out: ReportDir, verdicts: list[dict], meta: dict, profile: str,
                   json_name: str = "verdicts.json", md_name: str = "verdicts.md",
                   figure: str | None = None) -> list[str]:
    """``figure``: a path stem under ``out`` for the tightness figure (PNG and SVG), if any
    statement carries a tightness study."""
    doc = verdicts_json(verdicts, meta, profile)
    written = []
    if figure and any(v.get("tightness") for v in verdicts):
        from bntheory.report.figures import tightness_figure

        png, svg = tightness_figure(verdicts)
        out.write(figure + ".png", png)
        out.write(figure + ".svg", svg)
        written += [figure + ".png", figure + ".svg"]
    else:
        figure = None
    out.write(json_name, json.dumps(doc, indent=1) + "\n")
    out.write(md_name, verdicts_markdown(doc, figure))
    return written + [json_name, md_name]
