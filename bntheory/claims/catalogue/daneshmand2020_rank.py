r"""Daneshmand, Kohler, Bach, Hofmann & Lucchi (NeurIPS 2020): BatchNorm avoids rank collapse.

In deep linear networks at initialization, BatchNorm keeps the rank of a batch's
representation :math:`H_l` (``batch x width``) at least of order :math:`\sqrt{\text{width}}`
at every depth, while without it the rank collapses.  Measured on
:class:`~bntheory.cases.deepnets.DeepNet` (linear units, Gaussian weights
:math:`N(0, 1/n)`, a Gaussian batch of ``batch = width`` inputs) with two rank measures:

* the *numerical rank*: the number of singular values above :math:`10^{-3}` times the
  largest (directions three decades below the top one are lost to float32 training);
* the *stable rank* :math:`\|H\|_F^2/\|H\|_2^2`, which no threshold enters.

The regimes: with BatchNorm, "at least :math:`\sqrt n` at every depth" (the constant of
"order" read as 1): the smallest rank over depths :math:`1..L` divided by :math:`\sqrt n`,
claimed above 1, and, for the stable rank, "of order" read as a scaling law: the exponent
:math:`a` of a least-squares fit of :math:`\log\min_l \mathrm{rank}` against
:math:`\log n` over widths 16, 32, 64 (per seed) within :math:`1/2\pm 0.1`; without,
"collapses": the rank at depth :math:`L` divided by
:math:`\sqrt n`, claimed below 1 (numerical rank), and the stable rank at depth :math:`L`
claimed below 2 (one direction dominates).  The figure shows both ranks against depth for
several widths.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from bntheory.cases.deepnets import DeepNet, numerical_rank, stable_rank
from bntheory.claims.measured import MeasuredJudge
from bntheory.claims.model import Claim, ClaimInfo

ORDER = 80

WIDTH, DEPTH = 32, 256
RTOL = 1e-3
FIGURE_WIDTHS = (16, 32, 64)
FIGURE_SEEDS = 3
#: "Of order sqrt n" as an exponent: 1/2 up to this much.
EXPONENT_BAND = 0.1
RANKS = {
    "numerical": "numerical rank (singular values > 1e-3 of the largest)",
    "stable": "stable rank",
}
#: regime -> (norm, rank, alternative, threshold, statistic in words)
REGIMES = {
    "batchnorm, numerical rank": ("batchnorm", "numerical", "greater", 1.0, "min_l rank / sqrt n"),
    "batchnorm, stable rank": ("batchnorm", "stable", "greater", 1.0, "min_l rank / sqrt n"),
    "batchnorm, stable rank exponent": (
        "batchnorm",
        "stable",
        "within",
        0.5,
        "exponent a of min_l rank ~ n^a over widths 16, 32, 64",
    ),
    "none, numerical rank": ("none", "numerical", "less", 1.0, "rank at depth L / sqrt n"),
    "none, stable rank": ("none", "stable", "less", 2.0, "stable rank at depth L"),
}


@functools.lru_cache(maxsize=256)
def ranks(width: int, norm: str, seed: int) -> dict[str, tuple[float, ...]]:
    """Both ranks of ``H_0 .. H_L`` of one network."""
    net = DeepNet(width, DEPTH, width, "linear", norm, seed)
    hs = net.forward()
    return {
        "numerical": tuple(float(numerical_rank(h, RTOL)) for h in hs),
        "stable": tuple(stable_rank(h) for h in hs),
    }


def statistic(regime: str, width: int, seed: int) -> float:
    """The regime's statistic of one network (the exponent: of the seed's networks over the
    figure's widths)."""
    return statistic_of(REGIMES[regime], width, seed)


def statistic_of(spec: tuple, width: int, seed: int) -> float:
    """The statistic of a regime's ``(norm, rank, alternative, threshold, words)``."""
    norm, rank, alternative, _, _ = spec
    if alternative == "within":  # the exponent over the figure's widths
        mins = [min(ranks(w, norm, seed)[rank][1:]) for w in FIGURE_WIDTHS]
        return float(np.polyfit(np.log(FIGURE_WIDTHS), np.log(mins), 1)[0])
    r = np.asarray(ranks(width, norm, seed)[rank])
    if norm == "batchnorm":
        return float(r[1:].min() / math.sqrt(width))
    return float(r[-1] if rank == "stable" else r[-1] / math.sqrt(width))


def _summarize(regime: str, samples: list[float], per_seed: list[dict]) -> dict:
    norm, rank, _, _, words = REGIMES[regime]
    series = []
    depths = list(range(0, DEPTH + 1, 8))
    for width in FIGURE_WIDTHS:
        for n in ("batchnorm", "none"):
            curves = np.array([ranks(width, n, s)[rank] for s in range(FIGURE_SEEDS)])
            series.append(
                {
                    "label": f"{n}, width {width}",
                    "x": depths,
                    "y": [float(curves[:, d].mean()) for d in depths],
                    "style": "solid" if n == "batchnorm" else "dashed",
                }
            )
    stat = "min_l rank / sqrt n" if words.startswith("exponent") else words
    plain = {**REGIMES, regime: (norm, rank, "greater", 1.0, stat)}
    rows = [
        [w, float(np.mean([statistic_of(plain[regime], w, s) for s in range(FIGURE_SEEDS)]))]
        for w in FIGURE_WIDTHS
    ]
    words = stat
    return {
        "table": {
            "caption": f"{words} per width (mean over seeds 0-{FIGURE_SEEDS - 1})",
            "columns": ["width", words],
            "rows": rows,
        },
        "plot": {
            "kind": "curves",
            "title": f"{rank} rank of the batch's representation against depth",
            "x_label": "depth l",
            "y_label": RANKS[rank],
            "y_log": True,
            "series": series,
            "lines": [{"label": f"sqrt(width {w})", "y": math.sqrt(w)} for w in FIGURE_WIDTHS],
        },
    }


def judge(thresholds: dict[str, float] | None = None) -> MeasuredJudge:
    """The claim's judge; ``thresholds`` replaces a regime's threshold (planted variants)."""
    over = thresholds or {}

    def per_regime(regime: str):
        _, _, alternative, threshold, _ = REGIMES[regime]
        threshold = over.get(regime, threshold)
        band = (threshold - EXPONENT_BAND, threshold + EXPONENT_BAND)
        return alternative, threshold, band if alternative == "within" else None

    return MeasuredJudge(
        statistic="the regime's rank statistic",
        measure=lambda seed, regime: statistic(regime, WIDTH, seed),
        threshold=float("nan"),
        summarize=_summarize,
        per_regime=per_regime,
    )


CLAIMS = (
    Claim(
        ClaimInfo(
            id="daneshmand2020.rank",
            source="Daneshmand, Kohler, Bach, Hofmann & Lucchi (NeurIPS 2020), rank collapse",
            statement=(
                r"\mathrm{BN}:\ \mathrm{rank}(H_l)\ \gtrsim\ \sqrt{n}\ \ \forall l;\qquad "
                r"\text{no BN}:\ \mathrm{rank}(H_l)\to 1"
            ),
            case_space=(
                f"deep linear networks of width n = {WIDTH} and depth {DEPTH} at "
                f"initialization (Gaussian weights N(0, 1/n)), a Gaussian batch of {WIDTH} "
                "inputs, with training-mode BatchNorm after every layer or without; one "
                "network per seed"
            ),
            reading=(
                "Order sqrt(n) read with constant 1, and for the stable rank also as an exponent "
                "1/2 +- 0.1 over widths 16, 32, 64; two rank measures (numerical at 1e-3, "
                "stable); collapse read as below sqrt(n) (numerical) or below 2 (stable) at "
                f"depth {DEPTH}. The paper's own rank notion is not reproduced here."
            ),
            paper="daneshmand2020",
            title="Rank of the representations of deep linear networks",
        ),
        judge(),
        regimes=tuple(REGIMES),
    ),
)
