r"""Bjorck, Gomes, Selman & Weinberger (NeurIPS 2018, seed 004): BatchNorm enables large
learning rates.

"At first few updates, network without BN exhibit great relative loss (divergence) when the
step size is greater than :math:`10^{-3}`.  Same does not happen to network with BN."  Judged
on the ``lr-grid`` preset: a six-conv CNN on scikit-learn's digits with and without BatchNorm,
11 SGD steps at every learning rate of a grid from 0.01 to 100.  The relative loss is the
training loss after the first 10 updates over the initial loss
(:func:`bntheory.landscape.summary.relative_loss`); a run *diverges* at a learning rate when
its relative loss exceeds :data:`DIVERGED` or its loss becomes non-finite.  Each
normalization's divergence threshold (per seed) is the smallest learning rate of the grid at
which it diverges; a normalization that diverges nowhere on the grid gets the next grid
point beyond it (a lower bound: the statistic is then conservative).

Per seed: :math:`\log_{10}` of BatchNorm's threshold over none's; the claim, that BatchNorm
trains at learning rates at which the unnormalized network diverges, is that it is above 0.
"""

from __future__ import annotations

import math

from bntheory.claims.model import Claim, ClaimInfo
from bntheory.claims.runs import RunsJudge, grid, summaries_by_seed

ORDER = 91

PRESET = "lr-grid"
#: The relative loss above which a run counts as diverged (the loss more than doubled).
DIVERGED = 2.0


def relative(summary: dict) -> float | None:
    """A run's relative loss (``inf`` for a run that diverged before its end; ``None`` for a
    run too short to have one)."""
    v = summary["relative_loss"]
    if v in ("inf", None) and summary["diverged_at"] is not None:
        return math.inf
    return None if v is None else float(v)


def threshold(runs: dict, norm: str, lrs: list[float]) -> tuple[float, bool]:
    """``(threshold, censored)``: the smallest learning rate at which ``norm`` diverges."""
    for lr in lrs:
        r = relative(runs[(norm, lr)])
        if r is not None and r > DIVERGED:
            return lr, False
    return lrs[-1] * (lrs[-1] / lrs[-2] if len(lrs) > 1 else 10.0), True


def measure(presets, regime):
    """Per seed: ``log10(threshold(batchnorm) / threshold(none))``, ``None`` (dropped) where
    none's threshold is censored (no divergence on the grid: the ratio is then only an upper
    bound) or a run is too short to have a relative loss; details: the thresholds, and the
    relative loss against the learning rate (mean over seeds, band min-max)."""
    by_seed = summaries_by_seed(presets, PRESET)
    lrs = sorted({lr for _, lr in grid(presets, PRESET)})
    values, rows = [], []
    for seed in sorted(by_seed):
        (bn, bn_c), (none, none_c) = (
            threshold(by_seed[seed], n, lrs) for n in ("batchnorm", "none")
        )
        short = any(relative(r) is None for r in by_seed[seed].values())
        values.append(None if none_c or short else math.log10(bn / none))
        rows.append([seed, bn, bn_c, none, none_c, values[-1]])
    series = []
    for norm in ("none", "batchnorm"):
        curves = [
            [min(relative(by_seed[s][(norm, lr)]) or math.nan, 1e12) for lr in lrs] for s in by_seed
        ]
        series.append(
            {
                "label": norm,
                "x": lrs,
                "y": [sum(c[i] for c in curves) / len(curves) for i in range(len(lrs))],
                "lo": [min(c[i] for c in curves) for i in range(len(lrs))],
                "hi": [max(c[i] for c in curves) for i in range(len(lrs))],
            }
        )
    return values, {
        "diverged_above": DIVERGED,
        "table": {
            "caption": "divergence thresholds per seed (censored: no divergence on the grid)",
            "columns": ["seed", "batchnorm", "censored", "none", "censored", "log10 ratio"],
            "rows": rows,
        },
        "plot": {
            "kind": "curves",
            "title": "relative loss after 10 updates (mean over seeds, band: min-max)",
            "series": series,
            "lines": [{"label": f"diverged above {DIVERGED:g}", "y": DIVERGED}],
            "x_log": True,
            "y_log": True,
            "y_label": "L_10 / L_0 (capped at 1e12)",
        },
    }


CLAIMS = (
    Claim(
        ClaimInfo(
            id="bjorck2018.learning-rate",
            source="Bjorck et al. (2018), Section 2 and Figure 2 (seed 004)",
            statement=(
                r"\eta^{\mathrm{div}}_{\mathrm{BN}} > \eta^{\mathrm{div}}_{\text{standard}}:\ "
                r"\text{BN trains at learning rates at which the standard network diverges}"
            ),
            case_space=(
                "a six-conv VGG-style CNN on scikit-learn's digits, batch 128, with and "
                "without BatchNorm, 11 SGD steps at each learning rate of "
                "0.01, 0.03, ..., 100; one grid per seed"
            ),
            reading=(
                "A run diverges when its training loss after the first 10 updates is more "
                f"than {DIVERGED:g} times its initial loss, or non-finite; a normalization's "
                "divergence threshold is the smallest learning rate of the grid at which it "
                "diverges (the next grid point when it diverges nowhere: a lower bound). Per "
                "seed log10(threshold with BatchNorm / threshold without); the claim is a mean "
                "above 0."
            ),
            paper="bjorck2018",
            title="BatchNorm trains at learning rates at which the standard network diverges",
        ),
        RunsJudge(
            statistic="log10(divergence threshold with BatchNorm / without), per seed",
            regimes_of=lambda presets: (
                [f"{PRESET}, batchnorm vs none"]
                if PRESET in presets
                and {"none", "batchnorm"} <= {n for n, _ in grid(presets, PRESET)}
                else []
            ),
            measure=measure,
            claimed=lambda regime: ("greater", 0.0, None),
            presets=(PRESET,),
        ),
        regimes=(),
    ),
)
