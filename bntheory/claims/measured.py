r"""The measured judge: a statistic over seeds against a threshold, with a confidence interval.

``measure(seed, regime)`` gives one number per seed (one training run, one network at
initialization, ...).  The estimate is their mean and the interval a ``level`` bootstrap
interval over seeds (``scipy.stats.bootstrap``, BCa).  With ``alternative = "less"`` the
claim is that the statistic lies below ``threshold``: it is ``supported`` when the whole
interval does, ``contradicted`` when the whole interval lies at or above it, and
``inconclusive`` otherwise (``"greater"`` mirrors this).  With ``alternative = "within"``
the claim is that the statistic equals ``threshold`` up to ``band = (lo, hi)``: ``supported``
when the interval lies inside the band, ``contradicted`` when it lies wholly outside, and
``inconclusive`` when it straddles an edge.  Paired comparisons between two normalizations
are a statistic too: the per-seed difference.

``measure`` may return ``(value, details)``; ``summarize(regime, samples, [details per
seed])`` then gives the record's ``details`` (named numbers, a figure's data).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bntheory.claims.model import Claim, MeasuredEvidence, Verdict
from bntheory.errors import InvalidArgumentError
from bntheory.stats import interval

#: Seeds measured per budget.
SEEDS = {"quick": 5, "ci": 10, "thorough": 30}


def decide(
    lo: float,
    hi: float,
    threshold: float,
    alternative: str,
    band: tuple[float, float] | None = None,
) -> str:
    """``supported``, ``contradicted`` or ``inconclusive`` for an interval and a claim."""
    if alternative == "within":
        if band is None or not band[0] < band[1]:
            raise InvalidArgumentError(f"alternative 'within' needs a band lo < hi, got {band}")
        if band[0] < lo and hi < band[1]:
            return "supported"
        return "contradicted" if hi <= band[0] or lo >= band[1] else "inconclusive"
    if alternative == "less":
        return (
            "supported" if hi < threshold else "contradicted" if lo >= threshold else "inconclusive"
        )
    if alternative == "greater":
        return (
            "supported" if lo > threshold else "contradicted" if hi <= threshold else "inconclusive"
        )
    raise InvalidArgumentError(
        f"alternative must be 'less', 'greater' or 'within', got {alternative!r}"
    )


@dataclass(frozen=True)
class MeasuredJudge:
    """Judge a claim by a statistic measured over seeds (see the module docstring)."""

    statistic: str
    measure: Callable[[int, str], float | tuple[float, dict]]
    threshold: float
    alternative: str = "less"
    level: float = 0.95
    band: tuple[float, float] | None = None
    summarize: Callable[[str, list[float], list[dict]], dict] | None = None
    seeds: dict[str, int] | None = None  # seeds per profile, when not SEEDS
    per_regime: Callable[[str], tuple[str, float, tuple[float, float] | None]] | None = None
    kind: str = "measured"

    def claimed(self, regime: str) -> tuple[str, float, tuple[float, float] | None]:
        """``(alternative, threshold, band)`` in ``regime``: ``per_regime``'s where the claim
        differs between regimes (a predicted constant, a reading), else the judge's own."""
        if self.per_regime is None:
            return self.alternative, self.threshold, self.band
        alternative, threshold, band = self.per_regime(regime)
        return alternative, float(threshold), band

    def recheck(self, counterexample: dict) -> bool:
        """A measured claim has no counterexample to replay."""
        return False

    def judge(self, claim: Claim, regime: str, profile: str) -> Verdict:
        """Measure every seed of the budget and decide at the interval's level."""
        from bntheory.threads import torch_threads

        samples, per_seed = [], []
        with torch_threads(1):  # the same numbers in a worker and in this process
            for seed in range((self.seeds or SEEDS)[profile]):
                out = self.measure(seed, regime)
                value, extra = out if isinstance(out, tuple) else (out, {})
                samples.append(float(value))
                per_seed.append(extra)
            details = self.summarize(regime, samples, per_seed) if self.summarize else {}
        lo, hi = interval(samples, self.level)
        alternative, threshold, band = self.claimed(regime)
        ev = MeasuredEvidence(
            statistic=self.statistic,
            estimate=float(np.mean(samples)),
            interval=(lo, hi),
            level=self.level,
            threshold=threshold,
            alternative=alternative,
            samples=samples,
            band=band,
            details=details,
        )
        word = decide(lo, hi, threshold, alternative, band)
        return Verdict(claim.info, regime, word, ev, self.kind, {"profile": profile})
