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


def verdicts_markdown(doc: dict) -> str:
    out = ["# Theorems 1 and 2: every published form, judged", "", provenance_markdown(doc["meta"]), "",
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
        out += [f"### `{v['id']}` ({v['regime']}): {v['verdict']}", "", f"$${v['latex']}$$", ""]
        if v["assumptions"]:
            out += ["Assumptions: " + "; ".join(v["assumptions"]), ""]
        if v.get("reading"):
            out += [f"Reading: {v['reading']}", ""]
        ce = v["counterexample"] or v.get("unconditional_counterexample")
        if ce:
            label = "Counterexample" if v["counterexample"] else "Counterexample once the assumptions are dropped"
            out += [f"{label}:", ""] + counterexample_markdown(ce, v.get("sides") if v["counterexample"] else
                                                            v.get("unconditional_sides"))
    return "\n".join(out) + "\n"


def counterexample_markdown(ce: dict, sides: dict | None) -> list[str]:
    """A case as display math (its exact numbers are in the JSON), and both sides evaluated."""
    scalars = (rf"m = {ce['m']},\quad \gamma = {latex.number(ce['gamma'])},\quad "
               rf"\beta = {latex.number(ce['beta'])},\quad \varepsilon = {latex.number(ce['eps'])}")
    out = ["$$" + scalars + "$$", "",
           "$$y = " + latex.vector(ce["y"]) + "$$", "",
           "$$g = " + latex.vector(ce["g"]) + "$$", "",
           "$$H = " + latex.matrix(ce["H"]) + "$$", ""]
    if sides:
        out += [rf"$$\text{{lhs}} = {latex.number(sides['lhs'], 10)},\qquad "
                rf"\text{{rhs}} = {latex.number(sides['rhs'], 10)},\qquad "
                rf"\text{{rounding allows}}\ {latex.number(sides['tolerance'], 3)}$$", ""]
    out += ["(Displayed to 6 digits; the exact float64 numbers, which replay the case, are in the JSON.)", ""]
    return out


def write_verdicts(out: ReportDir, verdicts: list[dict], meta: dict, profile: str,
                   json_name: str = "verdicts.json", md_name: str = "verdicts.md") -> list[str]:
    doc = verdicts_json(verdicts, meta, profile)
    out.write(json_name, json.dumps(doc, indent=1) + "\n")
    out.write(md_name, verdicts_markdown(doc))
    return [json_name, md_name]
