"""Statistics over seeds: bootstrap intervals of a mean and paired differences.

One place for the intervals every measured number carries, so a landscape summary and a
measured claim's verdict come from the same estimator: the mean over seeds and its
``level`` BCa bootstrap interval (``scipy.stats.bootstrap``, resampling seeds, a fixed
generator so the interval is the same on every run).  A comparison between two
normalizations is *paired*: the same seed gives both runs the same data order and
initialization stream, so the statistic is the per-seed difference, not two separate means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from bntheory.errors import InvalidArgumentError

#: The confidence level of every interval unless a caller says otherwise.
LEVEL = 0.95


def interval(samples: Sequence[float], level: float = LEVEL, seed: int = 0) -> tuple[float, float]:
    """The ``level`` BCa bootstrap interval of the mean of ``samples`` (at least 2)."""
    data = np.asarray(samples, dtype=np.float64)
    if data.size < 2:
        raise InvalidArgumentError(
            f"a confidence interval needs at least 2 samples, got {data.size}"
        )
    if not np.all(np.isfinite(data)):
        raise InvalidArgumentError(f"a confidence interval needs finite samples, got {data}")
    if not 0 < level < 1:
        raise InvalidArgumentError(f"a confidence level lies in (0, 1), got {level}")
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


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def mean_interval(values: Sequence[float | None], level: float = LEVEL) -> dict:
    """The mean of the finite ``values`` (``None`` and non-finite ones are dropped and
    counted) with its interval: ``{"mean", "lo", "hi", "n", "dropped", "level"}``; ``lo`` and
    ``hi`` are ``None`` with fewer than two finite values."""
    xs = _finite(values)
    out = {"mean": None, "lo": None, "hi": None, "n": len(xs), "dropped": len(values) - len(xs)}
    out["level"] = level
    if xs:
        out["mean"] = float(np.mean(xs))
    if len(xs) >= 2:
        out["lo"], out["hi"] = interval(xs, level)
    return out


def paired_difference(
    a: Sequence[float | None], b: Sequence[float | None], level: float = LEVEL
) -> dict:
    """``a - b`` paired by position (one seed each): the mean difference with its interval,
    the relative effect ``mean(a - b) / |mean(b)|`` and Cohen's ``d_z = mean / sd`` of the
    differences.  Pairs with a missing or non-finite side are dropped (and counted).

    ``{"difference", "lo", "hi", "relative", "dz", "n", "dropped", "level"}``."""
    if len(a) != len(b):
        raise InvalidArgumentError(
            f"a paired difference needs one value per seed on both sides, got {len(a)} and {len(b)}"
        )
    pairs = [
        (float(x), float(y))
        for x, y in zip(a, b)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]
    d = np.array([x - y for x, y in pairs], dtype=np.float64)
    out = {
        "difference": None,
        "lo": None,
        "hi": None,
        "relative": None,
        "dz": None,
        "n": len(pairs),
        "dropped": len(a) - len(pairs),
        "level": level,
    }
    if not pairs:
        return out
    out["difference"] = float(d.mean())
    base = abs(float(np.mean([y for _, y in pairs])))
    out["relative"] = out["difference"] / base if base > 0 else None
    if len(pairs) >= 2:
        out["lo"], out["hi"] = interval(d, level)
        sd = float(d.std(ddof=1))
        out["dz"] = out["difference"] / sd if sd > 0 else None
    return out
