r"""The measured judge: a statistic over seeds against a threshold, with a confidence interval.

``measure(seed, regime)`` gives one number per seed (one training run, one network at
initialization, ...).  The estimate is their mean and the interval a ``level`` bootstrap
interval over seeds (``scipy.stats.bootstrap``, BCa).  With ``alternative = "less"`` the
claim is that the statistic lies below ``threshold``: it is ``supported`` when the whole
interval does, ``contradicted`` when the whole interval lies at or above it, and
``inconclusive`` otherwise (``"greater"`` mirrors this).  Paired comparisons between two
normalizations are a statistic too: the per-seed difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bntheory.claims.model import Claim, MeasuredEvidence, Verdict
from bntheory.errors import InvalidArgumentError

#: Seeds measured per budget.
SEEDS = {"quick": 5, "ci": 10, "thorough": 30}


def interval(samples: list[float], level: float, seed: int = 0) -> tuple[float, float]:
    """The ``level`` BCa bootstrap interval of the mean of ``samples``."""
    data = np.asarray(samples, dtype=np.float64)
    if data.size < 2:
        raise InvalidArgumentError(
            f"a confidence interval needs at least 2 samples, got {data.size}"
        )
    if np.all(data == data[0]):  # no spread: the bootstrap distribution is one point
        return float(data[0]), float(data[0])
    res = stats.bootstrap(
        (data,),
        np.mean,
        confidence_level=level,
        method="BCa",
        random_state=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def decide(lo: float, hi: float, threshold: float, alternative: str) -> str:
    """``supported``, ``contradicted`` or ``inconclusive`` for an interval and a claim."""
    if alternative == "less":
        return (
            "supported" if hi < threshold else "contradicted" if lo >= threshold else "inconclusive"
        )
    if alternative == "greater":
        return (
            "supported" if lo > threshold else "contradicted" if hi <= threshold else "inconclusive"
        )
    raise InvalidArgumentError(f"alternative must be 'less' or 'greater', got {alternative!r}")


@dataclass(frozen=True)
class MeasuredJudge:
    """Judge a claim by a statistic measured over seeds (see the module docstring)."""

    statistic: str
    measure: Callable[[int, str], float]
    threshold: float
    alternative: str = "less"
    level: float = 0.95
    kind: str = "measured"

    def recheck(self, counterexample: dict) -> bool:
        """A measured claim has no counterexample to replay."""
        return False

    def judge(self, claim: Claim, regime: str, profile: str) -> Verdict:
        """Measure every seed of the budget and decide at the interval's level."""
        samples = [float(self.measure(seed, regime)) for seed in range(SEEDS[profile])]
        lo, hi = interval(samples, self.level)
        ev = MeasuredEvidence(
            statistic=self.statistic,
            estimate=float(np.mean(samples)),
            interval=(lo, hi),
            level=self.level,
            threshold=self.threshold,
            alternative=self.alternative,
            samples=samples,
        )
        word = decide(lo, hi, self.threshold, self.alternative)
        return Verdict(claim.info, regime, word, ev, self.kind, {"profile": profile})
