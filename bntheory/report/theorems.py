"""``reports/theorems/<id>.md`` (one page per statement: as printed, exact form, verdict per
regime, counterexample, tightness plot) and ``reports/index.md`` (the headline)."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bntheory.report import latex  # noqa: E402
from bntheory.report.figures import _render  # noqa: E402
from bntheory.report.files import ReportDir  # noqa: E402
from bntheory.report.meta import provenance_markdown  # noqa: E402
from bntheory.report.verdicts import _number, counterexample_markdown  # noqa: E402

#: The exact form each statement is measured against, and the proof page that derives it.
EXACT = {1: ("thm1.exact", "../derivations/theorem1.md"), 2: ("thm2.exact", "../derivations/theorem2.md"),
         4: ("thm4.4.derived", "../derivations/theorem1.md")}


def group(statements: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for v in statements:
        out.setdefault(v["id"], []).append(v)
    return out


def verdict_word(v: dict[str, Any]) -> str:
    word = {"holds-under-assumptions": "holds under its assumptions"}.get(v["verdict"], v["verdict"])
    if v["verdict"] == "refuted" and v.get("violation") is not None:
        word += f" ({_number(v['violation'])})"
    return word


def search_word(v: dict[str, Any]) -> str:
    t = v.get("tightness")
    if not t:
        return "—"
    if t["objective"] == "tightness":
        return f"sup lhs/rhs {_number(t['sup'])}" + (", attained" if t.get("attained") else "")
    return f"violation up to {_number(t['sup'])}"


def tightness_plot(entries: list[dict[str, Any]]) -> tuple[bytes, bytes] | None:
    rows = [(v, r) for v in entries if v.get("tightness") for r in v["tightness"]["grid"] if r["value"] is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    series: dict[tuple[str, float], list[tuple[int, float]]] = {}
    for v, r in rows:
        series.setdefault((v["regime"], r["eps_ratio"]), []).append((r["m"], r["value"]))
    for (regime, ratio), pts in sorted(series.items()):
        pts.sort()
        label = "eps = 0" if regime == "eps=0" else f"eps/var = {ratio:g}"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if regime == "eps=0" else "s--", label=label)
    objective = entries[0]["tightness"]["objective"]
    ax.set_xscale("log", base=2)
    ax.set_xlabel("m (batch size)")
    ax.set_ylabel("sup lhs/rhs found" if objective == "tightness" else "largest (lhs - rhs)/scale found")
    if objective == "tightness":
        ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_title(f"{entries[0]['id']}: {'tightness' if objective == 'tightness' else 'worst violation'}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _render(fig)


def statement_page(sid: str, entries: list[dict[str, Any]], by_id: dict[str, list[dict[str, Any]]],
                   figure: str | None, meta: dict) -> str:
    first = entries[0]
    out = [f"# `{sid}`", "", f"Source: {first['source']}.", "", "## As printed", "", f"$${first['latex']}$$", ""]
    if first.get("assumptions"):
        out += ["Assumptions: " + "; ".join(first["assumptions"]), ""]
    if first.get("reading"):
        out += [f"Reading: {first['reading']}", ""]
    theorem = {"thm1": 1, "thm2": 2, "thm4": 4}.get(sid.split(".")[0])
    if theorem in EXACT and EXACT[theorem][0] in by_id:
        exact_id, proof = EXACT[theorem]
        out += ["## Exact form", "", f"$${by_id[exact_id][0]['latex']}$$", "",
                f"(`{exact_id}`; derived step by step in [{proof.rsplit('/', 1)[-1]}]({proof}).)", ""]
    elif sid == "lemma4.5":
        out += ["## The distance computation", "", "Derived step by step in "
                "[lemma-4.5.md](../derivations/lemma-4.5.md); the lemma needs the BatchNorm optima to "
                "contain the ray through the standard optimum, which is where it fails.", ""]
    out += ["## Verdict", "", "| regime | verdict | examples | max slack | worst-case search |", "|---|---|---|---|---|"]
    for v in entries:
        out.append(f"| {v['regime']} | **{verdict_word(v)}** | {v['examples']} | {_number(v['max_slack'])} | "
                   f"{search_word(v)} |")
    out.append("")
    for v in entries:
        ce = v.get("counterexample")
        if sid == "lemma4.5":
            if ce and v["regime"] == "eps=0":
                out += ["## Counterexample (exact, both regimes)", ""]
                for formula in latex.lemma_formulas(ce):
                    out += [f"$${formula}$$", ""]
            continue
        if ce:
            out += [f"## Counterexample, {v['regime']}", ""] + counterexample_markdown(ce, v.get("sides"))
        elif v.get("unconditional_counterexample"):
            out += [f"## Counterexample once the assumptions are dropped, {v['regime']}", ""]
            out += counterexample_markdown(v["unconditional_counterexample"], v.get("unconditional_sides"))
        w = v.get("worst_case") or {}
        if w.get("minimal"):
            mn = w["minimal"]
            out += [f"Smallest violating version the search found ({v['regime']}): $m = {mn['m']}$, "
                    f"{mn['digits']} significant digit(s), {mn['distinct_values']} distinct values, "
                    f"violation {_number(mn['violation'])}.", ""]
    if figure:
        out += ["## Tightness", "", f"![tightness of {sid}]({figure})", "",
                "Each point is the best of a multi-start L-BFGS-B search at that batch size `m` and ratio "
                "`eps/var`, re-checked by autograd (`bntheory search`).", ""]
    out += [provenance_markdown(meta)]
    return "\n".join(out) + "\n"


def write_theorem_pages(out: ReportDir, doc: dict[str, Any], meta: dict) -> list[str]:
    written = []
    by_id = group(doc["statements"])
    for sid, entries in by_id.items():
        figure = None
        plot = tightness_plot(entries)
        if plot is not None:
            for ext, data in zip(("png", "svg"), plot):
                out.write(f"theorems/{sid}-tightness.{ext}", data)
                written.append(f"theorems/{sid}-tightness.{ext}")
            figure = f"{sid}-tightness.png"
        out.write(f"theorems/{sid}.md", statement_page(sid, entries, by_id, figure, meta))
        written.append(f"theorems/{sid}.md")
    return written


def index_markdown(doc: dict[str, Any], landscape: dict[str, list[dict[str, Any]]], meta: dict,
                   analogues: list[dict[str, Any]] | None = None) -> str:
    out = ["# bntheory report: which claims about BatchNorm hold", "", provenance_markdown(meta), "",
           "Everything on these pages is generated by `make report` (`bntheory report`): verdicts are "
           "discovered by a Hypothesis search and a worst-case search, every counterexample is re-checked "
           "from its printed numbers, every derivation is an executable SymPy proof, and the landscape "
           "numbers come from networks trained in the same run.", "",
           "## Theorems 1, 2, 4.4 and Lemma 4.5", "",
           "| statement | as printed in | eps = 0 | eps > 0 | worst-case search (eps = 0; eps > 0) |",
           "|---|---|---|---|---|"]
    for sid, entries in group(doc["statements"]).items():
        regimes = {v["regime"]: v for v in entries}
        search = "; ".join(search_word(regimes[r]) for r in ("eps=0", "eps>0") if r in regimes)
        out.append(f"| [`{sid}`](theorems/{sid}.md) | {entries[0]['source']} | "
                   f"{verdict_word(regimes['eps=0'])} | {verdict_word(regimes['eps>0'])} | {search} |")
    out += ["", "The bracket after *refuted* is the re-checked counterexample's `(lhs - rhs)/scale` "
            "(for Lemma 4.5, `lhs - rhs` of an exact problem). All statements with their counterexamples on "
            "one page: [verdicts.md](verdicts.md); tightness over all of them: "
            "[figures/tightness.png](figures/tightness.png).", ""]
    if analogues:
        from bntheory.report.layers import analogue_rows

        out += ["## Theorems 1 and 2 across normalization layers", "",
                "Gain σ²‖ĝ‖²/(γ²‖g‖²) in each layer's own scale σ (Theorem 1's bound: gain ≤ 1); definitions, "
                "the symbolic and autograd checks of every layer, and the figure: [layers.md](layers.md).", ""]
        out += analogue_rows(analogues) + [""]
    if landscape:
        out += ["## The landscape with and without BatchNorm", "",
                "| preset | norm | lr | loss variation | predictiveness (max) | beta-smoothness | ICS l2 | ICS cos |",
                "|---|---|---|---|---|---|---|---|"]
        for name, summaries in landscape.items():
            for s in summaries:
                out.append(f"| [{name}](landscape/{name}.md) | `{s['norm']}` | {s['lr']:g} | "
                           f"{_number(s['loss_variation'])} | {_number(s['predictiveness_max'])} | "
                           f"{_number(s['beta_smoothness'])} | {_number(s['ics_l2'])} | {_number(s['ics_cos'])} |")
        out += ["", "Medians over the probes after initialization, training-mode BatchNorm; figures on each "
                "preset's page.", ""]
    out += ["## Also here", "",
            "- [derivations/](derivations/README.md): every executable proof, step by step;",
            "- [layers.md](layers.md): the registered layers, their closed forms against autograd and SymPy, and Theorems 1 and 2 across layers;",
            "- [bntheory.tex](bntheory.tex): this report as one LaTeX document;",
            "- [data/](data/): the JSON behind every page.", ""]
    return "\n".join(out) + "\n"
