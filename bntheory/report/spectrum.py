"""The Hessian-spectrum page (``spectrum/index.md``): Ghorbani et al.'s outliers, mode by mode.

From the verdicts of ``ghorbani2019.outliers`` (judged from the landscape runs' spectrum
probes): the definitions, the verdict per part, the eigenvalue densities of no
normalization, BatchNorm in train mode and BatchNorm in eval mode side by side (one row per
preset and learning rate), and the outlier count, outlier mass and gradient share over
training.  ``data/spectrum.json`` holds the numbers behind the page.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from bntheory.claims.model import MeasuredEvidence, Verdict
from bntheory.report.figures import number, plt, render
from bntheory.report.files import ReportDir
from bntheory.report.meta import provenance_markdown

CLAIM = "ghorbani2019.outliers"
PAGE = "spectrum/index.md"
DATA = "data/spectrum.json"
DENSITIES = "spectrum/densities"
TRAINING = "spectrum/training"
SCHEMA = 1
#: Parts whose over-training curves the training figure shows, one panel each.
CURVE_PARTS = (
    "outliers: batchnorm (train) - none",
    "outlier mass: batchnorm (train) - none",
    "gradient share: batchnorm (train) - none",
)


def files() -> list[str]:
    """Every file the page may write, relative to the report's root."""
    return [PAGE, DATA] + [f"{f}.{ext}" for f in (DENSITIES, TRAINING) for ext in ("png", "svg")]


def _groups(verdicts: list[Verdict]) -> dict[str, dict[str, Verdict]]:
    """``{"PRESET, lr LR": {part: verdict}}`` of the claim's verdicts, in order."""
    out: dict[str, dict[str, Verdict]] = {}
    for v in verdicts:
        if v.id == CLAIM and isinstance(v.evidence, MeasuredEvidence):
            preset, lr, part = v.regime.split(", ", 2)
            out.setdefault(f"{preset}, {lr}", {})[part] = v
    return out


def densities_figure(groups: dict[str, dict[str, Verdict]]) -> tuple[bytes, bytes] | None:
    """One row per preset and learning rate, one panel per configuration: the eigenvalue
    density (log scale, the SLQ runs' spread as a band), the bulk edge and the outlier
    threshold, the top eigenvalues as ticks."""
    rows = [
        (key, v.evidence.details["densities"])
        for key, parts in groups.items()
        for v in parts.values()
        if v.evidence.details.get("densities")
    ]
    if not rows:
        return None
    cols = max(len(d) for _, d in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(4.6 * cols, 3.3 * len(rows)), squeeze=False)
    for r, (key, dens) in enumerate(rows):
        for c, d in enumerate(dens):
            ax = axes[r][c]
            grid, y = np.array(d["grid"]), np.array(d["density"])
            spread = np.array(d["spread"])
            floor = max(y.max() * 1e-7, 1e-12)
            ax.plot(grid, np.maximum(y, floor), lw=1)
            ax.fill_between(
                grid, np.maximum(y - spread, floor), np.maximum(y + spread, floor), alpha=0.25
            )
            edge = d["bulk_edge"]
            ax.axvline(edge, color="grey", ls=":", lw=0.8, label="bulk edge e")
            ax.axvline(2 * edge, color="red", ls="--", lw=0.8, label="outlier threshold 2e")
            for lam in d["eigenvalues"]:
                ax.plot([lam], [floor], "|", color="black", ms=10)
            ax.set_yscale("log")
            ax.set_title(f"{d['label']}\n{key}, seed {d['seed']}, step {d['step']}", fontsize=9)
            ax.set_xlabel("eigenvalue")
            ax.set_ylabel("density")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        for c in range(len(dens), cols):
            axes[r][c].set_visible(False)
    fig.tight_layout()
    return render(fig)


def training_figure(groups: dict[str, dict[str, Verdict]]) -> tuple[bytes, bytes] | None:
    """One row per preset and learning rate: outlier count, mass and gradient share over
    training, the seeds' mean, for each configuration."""
    rows = [(key, [parts[p] for p in CURVE_PARTS if p in parts]) for key, parts in groups.items()]
    rows = [(k, vs) for k, vs in rows if vs]
    if not rows:
        return None
    cols = len(CURVE_PARTS)
    fig, axes = plt.subplots(len(rows), cols, figsize=(4.6 * cols, 3.3 * len(rows)), squeeze=False)
    for r, (key, vs) in enumerate(rows):
        for c, v in enumerate(vs):
            ax, p = axes[r][c], v.evidence.details["plot"]
            for s in p["series"]:
                ax.plot(
                    s["x"],
                    [np.nan if y is None else y for y in s["y"]],
                    "o-",
                    ms=3,
                    label=s["label"],
                )
            ax.set_title(f"{p['y_label']}\n({key})", fontsize=9)
            ax.set_xlabel("step")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return render(fig)


def summary(groups: dict[str, dict[str, Verdict]]) -> dict[str, Any]:
    """The page's numbers: per preset and learning rate, each part's verdict, estimate,
    interval and samples, and the densities shown."""
    out = {}
    for key, parts in groups.items():
        out[key] = {
            part: {
                "verdict": v.verdict,
                "estimate": v.evidence.estimate,
                "interval": list(v.evidence.interval),
                "level": v.evidence.level,
                "samples": v.evidence.samples,
                **(
                    {"densities": v.evidence.details["densities"]}
                    if "densities" in v.evidence.details
                    else {}
                ),
            }
            for part, v in parts.items()
        }
    return {"schema": SCHEMA, "claim": CLAIM, "regimes": out}


def page(groups: dict[str, dict[str, Verdict]], meta: dict, figures: list[str]) -> str:
    """The Markdown of the page."""
    md = [
        "# The Hessian's spectrum, in the mode SGD sees",
        "",
        provenance_markdown(meta),
        "",
        "Ghorbani, Krishnan & Xiao (ICML 2019): without BatchNorm large isolated eigenvalues "
        "(outliers) appear early in training and the gradient concentrates in their "
        "eigenspace; with BatchNorm using batch statistics they are almost absent; with "
        "population statistics they come back. Judged here (claim "
        f"[`{CLAIM}`](../theorems/{CLAIM}.md)) from the landscape runs' spectrum probes: at each "
        "probe the batch loss's Hessian $H$ in training mode (batch statistics, the function "
        "SGD optimizes) and, for BatchNorm, in eval mode (running statistics), by eigsh's top "
        "10 eigenpairs and stochastic Lanczos quadrature "
        "(`bntheory.landscape.spectrum.spectrum`).",
        "",
        "Definitions:",
        "",
        "- the **bulk** is the smallest interval $[-e, e]$ holding 99 % of the eigenvalues "
        "(by count, from the SLQ spectral measure); $e$ is the **bulk edge**;",
        "- an **outlier** is an eigenvalue above $2e$; the **outlier count** is their number "
        r"and the **outlier mass** $\sum_{\text{out}}\lambda^2/\operatorname{tr}(H^2)$ their "
        "share of the squared Frobenius norm, both by the SLQ measure (not capped at the 10 "
        "eigenpairs computed);",
        r"- the **gradient share** is $\|V_{10}^\top g\|^2/\|g\|^2$, the gradient's energy in "
        "the top-10 eigenspace.",
        "",
        "Per run each is the median over the probes after initialization; per seed the paired "
        "difference; the verdict from the 95 % bootstrap interval over seeds. Eval mode is the "
        "batch-statistics-trained network evaluated with its running statistics, not a "
        "network trained with population statistics as in Ghorbani et al.'s own experiment.",
        "",
    ]
    if not groups:
        md += [
            "No run of this report carries spectrum probes (presets with `spectrum_every`: "
            "`smoke`, `digits`, `cifar10-vgg`, `santurkar2018`).",
            "",
        ]
        return "\n".join(md)
    for key, parts in groups.items():
        md += [
            f"## {key}",
            "",
            "| part | verdict | estimate | 95 % interval | claimed | seeds |",
            "|---|---|---|---|---|---|",
        ]
        for part, v in parts.items():
            ev = v.evidence
            claimed = {"less": "< ", "greater": "> "}[ev.alternative] + number(ev.threshold)
            md.append(
                f"| {part} | **{v.verdict}** | {number(ev.estimate)} | "
                f"[{number(ev.interval[0])}, {number(ev.interval[1])}] | {claimed} | "
                f"{len(ev.samples)} |"
            )
        md.append("")
    if DENSITIES in figures:
        md += [
            "## Densities side by side",
            "",
            "The last probe's eigenvalue density of the lowest seed (log scale; band: the SLQ "
            "runs' spread), the bulk edge $e$ (dotted), the outlier threshold $2e$ (dashed) and "
            "the top 10 eigenvalues (ticks).",
            "",
            "![densities](densities.png)",
            "",
        ]
    if TRAINING in figures:
        md += [
            "## Over training",
            "",
            "Outlier count, outlier mass and gradient share at each spectrum probe, the mean "
            "over seeds, for no normalization and BatchNorm in both modes.",
            "",
            "![over training](training.png)",
            "",
        ]
    md += [
        "Compute a spectrum yourself:",
        "",
        "```python",
        "from bntheory.landscape.spectrum import spectrum",
        "",
        's = spectrum(model, loss, (x, y), mode="train", k=10, trace=("hutchpp",))',
        "s.eigenvalues, s.traces, s.density, s.outliers, s.gradient_share",
        "```",
        "",
        f"The numbers behind this page: [`{DATA}`](../{DATA}).",
        "",
    ]
    return "\n".join(md)


def write_spectrum(out: ReportDir, verdicts: list[Verdict], meta: dict) -> list[str]:
    """``spectrum/index.md``, its figures and ``data/spectrum.json``."""
    groups = _groups(verdicts)
    written, figures = [], []
    for name, fn in ((DENSITIES, densities_figure), (TRAINING, training_figure)):
        drawn = fn(groups)
        if drawn is None:
            continue
        for ext, data in zip(("png", "svg"), drawn):
            out.write(f"{name}.{ext}", data)
            written.append(f"{name}.{ext}")
        figures.append(name)
    out.write(DATA, json.dumps({**summary(groups), "meta": meta}, indent=1) + "\n")
    out.write(PAGE, page(groups, meta, figures))
    return written + [DATA, PAGE]
