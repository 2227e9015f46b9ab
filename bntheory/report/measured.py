"""The pages' parts for measured claims and comparison tables, drawn from typed records.

A measured record's ``details`` may carry named numbers, a ``table``
(``{"caption", "columns", "rows"}``) and a ``plot`` whose ``kind`` says how to draw it:

* ``curves`` -- ``series`` of ``{"label", "x", "y"}`` (optional ``lo``/``hi`` as a band,
  ``style``), horizontal ``lines`` of ``{"label", "y"}``, ``x_log``/``y_log``;
* ``histogram`` -- shared ``edges`` and ``series`` of ``{"label", "counts"}``, vertical
  ``marks``;
* ``heatmap`` -- a ``matrix`` (rows: the y axis).

The figure of a claim has one panel per record with a plot.  A claim with a ``grid`` in its
description lands in a comparison table, ``tables/<name>.md``: its rows and columns are the
grid's, each cell the verdicts per regime beside the published entry, disagreements marked.
"""

from __future__ import annotations

from bntheory.claims.model import MeasuredEvidence, Verdict
from bntheory.report.figures import number, plt, render
from bntheory.report.verdicts import group, regime_label

#: Verdicts that mean "the cell's property holds".
HOLDS = ("holds", "holds-under-assumptions", "supported")


def plots(entries: list[Verdict]) -> list[tuple[str, dict]]:
    """``(regime, plot data)`` of the records that carry a plot."""
    return [
        (v.regime, v.evidence.details["plot"])
        for v in entries
        if isinstance(v.evidence, MeasuredEvidence) and "plot" in v.evidence.details
    ]


def _curves(ax, p: dict) -> None:
    for s in p["series"]:
        style = "--" if s.get("style") == "dashed" else "-"
        ax.plot(s["x"], s["y"], style, marker="o", ms=3, label=s["label"])
        if "lo" in s and "hi" in s:
            ax.fill_between(s["x"], s["lo"], s["hi"], alpha=0.2)
    for line in p.get("lines", []):
        ax.axhline(line["y"], color="grey", lw=0.8, ls=":")
        ax.annotate(
            line["label"], (0.01, line["y"]), xycoords=("axes fraction", "data"), fontsize=7
        )
    if p.get("x_log"):
        ax.set_xscale("log", base=2)
    if p.get("y_log"):
        ax.set_yscale("log")
    ax.set_ylabel(p.get("y_label", ""))
    ax.legend(fontsize=7)


def _histogram(ax, p: dict) -> None:
    edges = p["edges"]
    for s in p["series"]:
        ax.stairs(s["counts"], edges, label=s["label"], fill=False, lw=1.2)
    for mark in p.get("marks", []):
        ax.axvline(mark, color="grey", lw=0.8, ls=":")
    ax.set_ylabel("count")
    ax.legend(fontsize=7)


def _heatmap(ax, p: dict) -> None:
    import numpy as np

    m = np.array([[np.nan if x is None else x for x in row] for row in p["matrix"]], float)
    image = ax.imshow(m, aspect="auto", origin="lower", cmap="viridis")  # None: blank
    ax.figure.colorbar(image, ax=ax, fraction=0.05)
    ax.set_ylabel(p.get("y_label", ""))


DRAW = {"curves": _curves, "histogram": _histogram, "heatmap": _heatmap}


def measured_figure(entries: list[Verdict]) -> tuple[bytes, bytes] | None:
    """One claim's figure: a panel per distinct plot (regimes that share one share the
    panel); None without one."""
    import json

    shared: dict[str, tuple[list[str], dict]] = {}
    for regime, p in plots(entries):
        shared.setdefault(json.dumps(p, sort_keys=True), ([], p))[0].append(regime)
    panels = [("; ".join(regimes), p) for regimes, p in shared.values()]
    if not panels:
        return None
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 3.9 * rows), squeeze=False)
    for ax, (regime, p) in zip(axes.flat, panels):
        DRAW[p["kind"]](ax, p)
        ax.set_xlabel(p.get("x_label", ""))
        ax.set_title(f"{p.get('title', '')}\n({regime})", fontsize=9)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return render(fig)


def claimed_words(ev: MeasuredEvidence) -> str:
    """What the claim says of the statistic: ``< 1``, ``> 0.9``, ``in [0.95, 1.05]``."""
    if ev.alternative == "within" and ev.band is not None:
        return f"{number(ev.threshold)}, in [{number(ev.band[0])}, {number(ev.band[1])}]"
    return {"less": "< ", "greater": "> "}.get(ev.alternative, ev.alternative) + number(
        ev.threshold
    )


def measured_rows(entries: list[Verdict]) -> list[str]:
    """The verdict table of a measured claim: one row per regime."""
    out = [
        "| regime | verdict | statistic | estimate | interval | claimed | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in entries:
        ev = v.evidence
        lo, hi = ev.interval
        out.append(
            f"| {v.regime} | **{v.verdict}** | {ev.statistic} | {number(ev.estimate)} | "
            f"{ev.level:.0%}: [{number(lo)}, {number(hi)}] | {claimed_words(ev)} | "
            f"{ev.examples} |"
        )
    return out + [""]


def details_markdown(entries: list[Verdict]) -> list[str]:
    """Each record's named numbers and table."""
    out: list[str] = []
    for v in entries:
        d = v.evidence.details if isinstance(v.evidence, MeasuredEvidence) else {}
        named = {
            k: x
            for k, x in d.items()
            if k not in ("plot", "table") and not isinstance(x, list | tuple)
        }  # a list is a figure's data for another page (in the JSON), not a named number
        if not named and "table" not in d:
            continue
        out += [f"### {v.regime}", ""]
        if named:
            out += [f"- `{k}`: {_value(x)}" for k, x in named.items()] + [""]
        if "table" in d:
            t = d["table"]
            out += [
                f"{t['caption']}:",
                "",
                "| " + " | ".join(t["columns"]) + " |",
                "|" + "---|" * len(t["columns"]),
            ]
            out += ["| " + " | ".join(number(c) for c in row) + " |" for row in t["rows"]]
            out.append("")
    return out


def _value(x) -> str:
    if isinstance(x, dict):
        return ", ".join(f"{k} {_value(y)}" for k, y in x.items())
    return number(x)


def grid_names(infos) -> list[str]:
    """The comparison tables the claims' descriptions place themselves in."""
    return list(dict.fromkeys(i.grid[0] for i in infos if i.grid is not None))


def grid_markdown(name: str, verdicts: list[Verdict], meta_line: str) -> str:
    """``tables/<name>.md``: the claims of one comparison table (see the module)."""
    by_id = {sid: e for sid, e in group(verdicts).items() if e[0].claim.grid}
    cells = {
        (e[0].claim.grid[1], e[0].claim.grid[2]): e
        for e in by_id.values()
        if e[0].claim.grid[0] == name
    }
    rows = list(dict.fromkeys(r for r, _ in cells))
    cols = list(dict.fromkeys(c for _, c in cells))
    sources = list(dict.fromkeys(e[0].claim.source for e in cells.values()))
    regimes = list(dict.fromkeys(v.regime for e in cells.values() for v in e))
    out = [
        f"# Comparison table `{name}`",
        "",
        meta_line,
        "",
        "Each cell: the verdict found per regime ("
        + ", ".join(regime_label(r) for r in regimes)
        + "), then the published entry. **≠** marks a cell where the verdict at the first "
        "regime disagrees with the published entry; *n/p*: no published entry. Each claim's "
        "page has its counterexample.",
        "",
        "| | " + " | ".join(f"`{c}`" for c in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    disagreements = []
    for r in rows:
        line = [f"`{r}`"]
        for c in cols:
            e = cells.get((r, c))
            if not e:
                line.append("—")
                continue
            found = " / ".join("✓" if v.verdict in HOLDS else "✗" for v in e)
            published = e[0].claim.published
            mark = ""
            if published is None:
                pub = "n/p"
            else:
                pub = "✓" if published == "invariant" or published == "holds" else "✗"
                if (e[0].verdict in HOLDS) != (pub == "✓"):
                    mark = " **≠**"
                    disagreements.append((e[0].id, e[0].verdict, published))
            line.append(f"[{found}](../theorems/{e[0].id}.md) ({pub}){mark}")
        out.append("| " + " | ".join(line) + " |")
    out += ["", "Sources of the published entries: " + "; ".join(sources) + ".", ""]
    if disagreements:
        out += ["## Disagreements with the published table", ""]
        out += [
            f"- `{sid}`: found **{word}** at {regimes[0]}, published *{pub}*."
            for sid, word, pub in disagreements
        ]
    else:
        out += ["No cell disagrees with the published table."]
    return "\n".join(out) + "\n"
