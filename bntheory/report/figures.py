"""Figures of the report, rendered to PNG and SVG bytes (deterministic: no dates, fixed ids)."""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: The report's tightness figure of every studied claim (a path stem: PNG and SVG).
TIGHTNESS_FIGURE = "figures/tightness"

matplotlib.rcParams["svg.hashsalt"] = "bntheory"  # stable element ids in SVG output


def render(fig) -> tuple[bytes, bytes]:
    """A figure as PNG and SVG bytes (then closed)."""
    out = []
    for fmt, meta in (("png", {"Software": None}), ("svg", {"Date": None})):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=130, metadata=meta, bbox_inches="tight")
        out.append(buf.getvalue())
    plt.close(fig)
    return out[0], out[1]


def tightness_axes(ax, entries: list) -> bool:
    """One claim's worst-case study on ``ax``: the best value found against ``m``, one line
    per regime and ``eps/var`` (``entries``: the claim's verdict records).  False when no
    record carries a study."""
    series: dict[tuple[str, float], list[tuple[int, float]]] = {}
    objectives: dict[str, str] = {}  # per regime: a refuted regime's study measures violation
    for v in entries:
        t = getattr(v.evidence, "tightness", None)
        if not t:
            continue
        objectives[v.regime] = t["objective"]
        for r in t["grid"]:
            if r["value"] is not None:
                series.setdefault((v.regime, r["eps_ratio"]), []).append((r["m"], r["value"]))
    if not series:
        return False
    mixed = len(set(objectives.values())) > 1
    words = {"tightness": "tightness", "violation": "worst violation"}
    for (regime, ratio), pts in sorted(series.items()):
        pts.sort()
        label = "eps = 0" if regime == "eps=0" else f"eps/var = {ratio:g}"
        if mixed:
            label += f" ({words[objectives[regime]]})"
        style = "o-" if regime == "eps=0" else "s--"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("m (batch size)")
    ax.ticklabel_format(axis="y", useOffset=False)
    if "tightness" in objectives.values():
        ax.axhline(1.0, color="grey", lw=0.8)
    if mixed:
        ax.set_ylabel("sup lhs/rhs, or largest (lhs - rhs)/scale")
        title = " / ".join(f"{words[o]} ({r})" for r, o in objectives.items())
    elif "tightness" in objectives.values():
        ax.set_ylabel("sup lhs/rhs found")
        title = "tightness"
    else:
        ax.set_ylabel("largest (lhs - rhs)/scale found")
        title = "worst violation"
    ax.set_title(f"{entries[0].id}: {title}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return True


def tightness_figure(verdicts: list) -> tuple[bytes, bytes] | None:
    """The tightness figure: one panel per studied claim (:func:`tightness_axes`), for one
    claim's page or, with every claim's records, for the whole report; None without a study."""
    by_id: dict[str, list] = {}
    for v in verdicts:
        if getattr(v.evidence, "tightness", None):
            by_id.setdefault(v.id, []).append(v)
    if not by_id:
        return None
    cols = min(len(by_id), 4)
    rows = -(-len(by_id) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.0 * rows), squeeze=False)
    for ax, entries in zip(axes.flat, by_id.values()):
        tightness_axes(ax, entries)
    for ax in list(axes.flat)[len(by_id) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return render(fig)


def number(x: Any, missing: str = "—") -> str:
    """The one number format of every table: 3 significant digits, ``missing`` for None,
    integers whole, a list comma-separated."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return missing
    if isinstance(x, list):
        return ", ".join(number(v, missing) for v in x) or missing
    if isinstance(x, bool) or isinstance(x, int):
        return str(x)
    return "0" if x == 0 else f"{x:.3g}"


def mean_ci(cell: dict | None, missing: str = "—") -> str:
    """A mean over seeds with its interval (:func:`bntheory.stats.mean_interval`'s dict) as
    ``mean [lo, hi]`` (the mean alone without an interval)."""
    if not cell or cell.get("mean") is None:
        return missing
    if cell.get("lo") is None:
        return number(cell["mean"], missing)
    return f"{number(cell['mean'])} [{number(cell['lo'])}, {number(cell['hi'])}]"
