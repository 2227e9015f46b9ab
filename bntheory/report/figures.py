"""Figures of the report, rendered to PNG and SVG bytes (deterministic: no dates, fixed ids)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

matplotlib.rcParams["svg.hashsalt"] = "bntheory"  # stable element ids in SVG output


def _render(fig) -> tuple[bytes, bytes]:
    out = []
    for fmt, meta in (("png", {"Software": None}), ("svg", {"Date": None})):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=130, metadata=meta, bbox_inches="tight")
        out.append(buf.getvalue())
    plt.close(fig)
    return out[0], out[1]


def tightness_figure(statements: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """Left: sup lhs/rhs of the statements that hold, against m. Middle: the largest relative
    violation of the refuted ones, against m. Right: both against eps/var (eps>0 regime,
    the largest over m)."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 6.2))
    styles = {"eps=0": "-", "eps>0": "--"}
    for ax in axes:
        ax.set_prop_cycle(color=plt.cm.tab20.colors)  # up to 20 distinguishable lines
    for v in statements:
        t = v.get("tightness")
        if not t or not t.get("grid"):
            continue
        label = f"{v['id']} ({v['regime']})"
        ax = axes[0] if t["objective"] == "tightness" else axes[1]
        by_m: dict[int, float] = {}
        for row in t["grid"]:
            if row["value"] is not None:
                by_m[row["m"]] = max(by_m.get(row["m"], -float("inf")), row["value"])
        ms = sorted(by_m)
        ax.plot(ms, [by_m[m] for m in ms], styles[v["regime"]], marker="o", label=label)
        if v["regime"] == "eps>0":
            by_r: dict[float, float] = {}
            for row in t["grid"]:
                if row["value"] is not None:
                    by_r[row["eps_ratio"]] = max(by_r.get(row["eps_ratio"], -float("inf")), row["value"])
            rs = sorted(by_r)
            marker = "o" if t["objective"] == "tightness" else "s"
            axes[2].plot(rs, [by_r[r] for r in rs], "-" if t["objective"] == "tightness" else ":",
                         marker=marker, label=f"{v['id']} ({t['objective']})")
    axes[0].set_title("statements that hold: sup lhs/rhs found\n(points where both sides vanish are left out)")
    axes[0].axhline(1.0, color="grey", lw=0.8)
    axes[0].set_ylabel("sup lhs / rhs  (1 = attained)")
    axes[1].set_title("refuted statements: largest violation found")
    axes[1].set_ylabel("max (lhs - rhs) / scale")
    axes[2].set_title("eps > 0: against eps / var (max over m)")
    axes[2].set_xscale("log")
    axes[2].set_xlabel("eps / var")
    axes[2].set_ylabel("sup lhs/rhs  or  max violation")
    for ax in axes[:2]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("m (batch size)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.tight_layout()
    return _render(fig)
