r"""Ghorbani, Krishnan & Xiao (ICML 2019): BatchNorm suppresses the Hessian's outliers.

"In non-batch normalized networks, we observe the rapid appearance of large isolated
eigenvalues in the spectrum, along with a surprising concentration of the gradient in the
corresponding eigenspaces.  In batch normalized networks, these two effects are almost
absent."  And (their Section 4): with BatchNorm's population statistics instead of the
batch's, the outliers come back.

Judged from the landscape runs' spectrum probes (:func:`bntheory.landscape.probes.spectrum_probe`,
run summaries' ``spectrum``): at each probe the batch loss's Hessian in training mode
(batch statistics: the function SGD optimizes) and, for BatchNorm, in eval mode (running
statistics), each by eigsh's top 10 eigenpairs and SLQ.  The definitions
(:mod:`bntheory.landscape.spectrum`):

* the **bulk** is the smallest interval :math:`[-e, e]` holding 99 % of the eigenvalues
  (by count, from the SLQ spectral measure); :math:`e` is the **bulk edge**;
* an **outlier** is an eigenvalue above :math:`2e`; the **outlier count** is their number
  and the **outlier mass** their share of :math:`\|H\|_F^2=\sum_i\lambda_i^2`,
  :math:`\sum_{out}\lambda^2/\mathrm{tr}(H^2)`, both by the SLQ measure
  (:func:`bntheory.landscape.spectrum.tail`: not capped at the 10 eigenpairs computed);
* the **gradient share** is :math:`\|V_{10}^\top g\|^2/\|g\|^2`, the gradient's energy in
  the top-10 eigenspace (10: the number of classes, Papyan's count of outliers).

Per run each is the median over the probes after initialization; per seed the paired
differences below.  The eval-mode Hessian is that of the BatchNorm network trained with
batch statistics, evaluated with its running statistics: Ghorbani et al.'s own experiment
trained with population statistics, which this does not reproduce.
"""

from __future__ import annotations

import statistics

from bntheory.claims.model import Claim, ClaimInfo
from bntheory.claims.runs import RunsJudge, grid, split_regime, summaries_by_seed

ORDER = 85

#: regime part -> (metric, (norm, mode) of the run, (norm, mode) of the baseline or None,
#: alternative, threshold)
PARTS = {
    "outliers without batchnorm": ("outlier_count", ("none", "train"), None, "greater", 0.0),
    "outliers: batchnorm (train) - none": (
        "outlier_count",
        ("batchnorm", "train"),
        ("none", "train"),
        "less",
        0.0,
    ),
    "outlier mass: batchnorm (train) - none": (
        "outlier_mass",
        ("batchnorm", "train"),
        ("none", "train"),
        "less",
        0.0,
    ),
    "gradient share: batchnorm (train) - none": (
        "gradient_share",
        ("batchnorm", "train"),
        ("none", "train"),
        "less",
        0.0,
    ),
    "outliers: batchnorm (eval) - batchnorm (train)": (
        "outlier_count",
        ("batchnorm", "eval"),
        ("batchnorm", "train"),
        "greater",
        0.0,
    ),
    "outlier mass: batchnorm (eval) - batchnorm (train)": (
        "outlier_mass",
        ("batchnorm", "eval"),
        ("batchnorm", "train"),
        "greater",
        0.0,
    ),
}
#: The configurations whose spectra are compared, and their labels.
CONFIGS = (
    ("none", "train", "none"),
    ("batchnorm", "train", "BatchNorm, train mode"),
    ("batchnorm", "eval", "BatchNorm, eval mode"),
)
WORDS = {
    "outlier_count": "outliers (eigenvalues above twice the bulk edge)",
    "outlier_mass": "outlier mass (share of tr H^2)",
    "gradient_share": "gradient share in the top-10 eigenspace",
}


def _spectral(summary: dict) -> dict:
    return summary.get("spectrum") or {}


def regimes(presets) -> list[str]:
    """``"PRESET, lr LR, PART"`` for every preset and learning rate whose none and BatchNorm
    runs carry spectra (BatchNorm's in both modes)."""
    out = []
    for name in presets:
        by_seed = summaries_by_seed(presets, name)
        have = grid(presets, name)
        for lr in sorted({lr for _, lr in have}):
            if ("none", lr) not in have or ("batchnorm", lr) not in have:
                continue
            ok = all(
                "train" in _spectral(runs[("none", lr)])
                and {"train", "eval"} <= set(_spectral(runs[("batchnorm", lr)]))
                for runs in by_seed.values()
            )
            if ok:
                out += [f"{name}, lr {lr:g}, {part}" for part in PARTS]
    return out


def _value(summary: dict, mode: str, metric: str):
    if summary["diverged_at"] is not None:
        return None  # a diverged run's probes stop where it diverged: not comparable
    return _spectral(summary).get(mode, {}).get(metric)


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


def _curves(by_seed: dict, lr: float, metric: str) -> list[dict]:
    """Each configuration's metric over training, the mean over seeds at each probe."""
    series = []
    for norm, mode, label in CONFIGS:
        rows = [
            _spectral(runs[(norm, lr)]).get(mode, {}).get("series")
            for runs in by_seed.values()
            if runs[(norm, lr)]["diverged_at"] is None
        ]
        rows = [r for r in rows if r]
        if not rows:
            continue
        steps = rows[0]["steps"]
        y = [_mean([r[metric][i] for r in rows if i < len(r[metric])]) for i in range(len(steps))]
        series.append({"label": label, "x": steps, "y": y})
    return series


def densities(presets, preset: str, lr: float) -> list[dict]:
    """The last probe's eigenvalue density of each configuration of the lowest seed, with
    its bulk edge and top eigenvalues."""
    by_seed = summaries_by_seed(presets, preset)
    runs = by_seed[min(by_seed)]
    out = []
    for norm, mode, label in CONFIGS:
        s = _spectral(runs[(norm, lr)]).get(mode)
        if s and s.get("density"):
            out.append(
                {
                    "label": label,
                    "seed": min(by_seed),
                    "step": s["step"],
                    "grid": s["density"]["grid"],
                    "density": s["density"]["density"],
                    "spread": s["density"]["spread"],
                    "bulk_edge": s["bulk_edge"],
                    "eigenvalues": s["eigenvalues"],
                }
            )
    return out


def measure(presets, regime: str):
    """Per seed the regime's statistic (a configuration's metric, or its difference from the
    baseline's), the per-seed table and the metric over training for the figure."""
    preset, lr, (part,) = split_regime(regime)
    metric, (norm, mode), base, _, _ = PARTS[part]
    by_seed = summaries_by_seed(presets, preset)
    rows, values = [], []
    for seed in sorted(by_seed):
        runs = by_seed[seed]
        a = _value(runs[(norm, lr)], mode, metric)
        b = _value(runs[(base[0], lr)], base[1], metric) if base else None
        v = None if a is None or (base and b is None) else (a - b if base else a)
        values.append(v)
        rows.append([seed, a, b, v] if base else [seed, a])
    label = f"{norm} ({mode})"
    columns = ["seed", label, f"{base[0]} ({base[1]})", "difference"] if base else ["seed", label]
    details = {
        f"{label} (mean)": _mean([r[1] for r in rows]),
        "table": {
            "caption": f"{WORDS[metric]} per seed ({preset}, lr {lr:g}; median over the "
            "probes after initialization)",
            "columns": columns,
            "rows": rows,
        },
        "plot": {
            "kind": "curves",
            "title": f"{WORDS[metric]} over training ({preset}, lr {lr:g}, mean over seeds)",
            "x_label": "step",
            "y_label": WORDS[metric],
            "series": _curves(by_seed, lr, metric),
        },
    }
    if base:
        details[f"{base[0]} ({base[1]}) (mean)"] = _mean([r[2] for r in rows])
    if part == "outliers without batchnorm":
        details["densities"] = densities(presets, preset, lr)
    return values, details


CLAIMS = (
    Claim(
        ClaimInfo(
            id="ghorbani2019.outliers",
            source=(
                "Ghorbani, Krishnan & Xiao (ICML 2019), An Investigation into Neural Net "
                "Optimization via Hessian Eigenvalue Density, abstract and Section 4"
            ),
            statement=(
                r"\text{no BN: isolated }\lambda_i\gg\text{bulk appear, }g\in"
                r"\mathrm{span}(\text{their eigenvectors});\ \ \text{BN: almost absent};"
                r"\ \ \text{BN with population statistics: they return}"
            ),
            case_space=(
                "the landscape presets' networks with and without BatchNorm at the same "
                "learning rate and seed (the digits CNN; the santurkar2018 VGG-11 when it is "
                "run); at each spectrum probe the batch loss's Hessian in training mode and, "
                "for BatchNorm, in eval mode"
            ),
            reading=(
                "Bulk: the smallest [-e, e] holding 99 % of the eigenvalues (SLQ spectral "
                "measure); outlier: an eigenvalue above 2e; outlier count and mass: their "
                "number and their share of tr(H^2), both by the SLQ measure; gradient share: "
                "the gradient's energy in the top-10 eigenspace; "
                "each the median over the probes after initialization. Parts (the regimes): "
                "without BatchNorm the outlier count is above 0; BatchNorm (train mode) minus "
                "none is below 0 for the outlier count, the outlier mass and the gradient "
                "share; BatchNorm in eval mode minus train mode is above 0 for the outlier "
                "count and mass. Paired by seed, 95 % bootstrap interval over seeds. Eval "
                "mode here is the batch-statistics-trained network with its running "
                "statistics, not Ghorbani et al.'s network trained with population statistics."
            ),
            paper="ghorbani2019",
            title="BatchNorm suppresses the Hessian's outlier eigenvalues",
        ),
        RunsJudge(
            statistic="the part's spectrum statistic per seed (see the reading)",
            regimes_of=regimes,
            measure=measure,
            claimed=lambda regime: PARTS[split_regime(regime)[2][0]][3:] + (None,),
            presets=("digits",),
        ),
        regimes=(),
    ),
)
