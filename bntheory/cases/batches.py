"""Activation batches of named families, generated from a seed (no Hypothesis needed).

Each family is a function ``(rng, groups, m) -> ndarray (groups, m)``: one row per
normalization group.  They are the hard cases for a normalization layer: heavy tails,
near-constant groups (catastrophic cancellation in ``y - mu``), a single outlier (``yhat``
close to a two-point vector), two values only, duplicates, and extreme scales.
The seeded report runs and the Hypothesis strategies share them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Family = Callable[[np.random.Generator, int, int], np.ndarray]


def gaussian(rng: np.random.Generator, groups: int, m: int) -> np.ndarray:
    """Gaussian groups, each with its own random offset and scale."""
    shift = rng.normal(0, 2, size=(groups, 1))
    scale = np.exp(rng.normal(0, 1, size=(groups, 1)))
    return shift + scale * rng.normal(size=(groups, m))


def heavy_tailed(rng: np.random.Generator, groups: int, m: int) -> np.ndarray:
    """Heavy-tailed groups: Student's t with 1.5 degrees of freedom."""
    return rng.standard_t(df=1.5, size=(groups, m))


def near_constant(rng: np.random.Generator, groups: int, m: int) -> np.ndarray:
    """Nearly constant groups: a level plus a tiny relative spread."""
    level = rng.uniform(-1e3, 1e3, size=(groups, 1))
    spread = 10.0 ** rng.uniform(-9, -5, size=(groups, 1))
    return level + level * spread * rng.normal(size=(groups, m))


def one_outlier(rng: np.random.Generator, groups: int, m: int) -> np.ndarray:
    """Standard normal groups with one large outlier each."""
    y = rng.normal(size=(groups, m))
    y[np.arange(groups), rng.integers(0, m, size=groups)] += rng.choice([-1, 1], size=groups) * 1e4
    return y


def two_valued(rng: np.random.Generator, groups: int, m: int) -> np.ndarray:
    """Groups taking two values, both occurring in every group."""
    lo, hi = np.sort(rng.normal(0, 3, size=(2, groups, 1)), axis=0)
    hi = hi + 0.5
    pick = rng.integers(0, 2, size=(groups, m)).astype(bool)
    pick[:, 0], pick[:, -1] = False, True  # both values occur
    return np.where(pick, hi, lo)


def duplicates(rng: np.random.Generator, groups: int, m: int) -> np.ndarray:
    """Groups drawn with repetition from a small pool of values."""
    pool = rng.normal(size=(groups, max(2, m // 3)))
    idx = rng.integers(0, pool.shape[1], size=(groups, m))
    idx[:, 0], idx[:, -1] = 0, 1  # at least two distinct values
    return np.take_along_axis(pool, idx, axis=1)


def tiny_scale(rng: np.random.Generator, groups: int, m: int) -> np.ndarray:
    """Gaussian groups scaled by ``1e-100``."""
    return 1e-100 * gaussian(rng, groups, m)


def huge_scale(rng: np.random.Generator, groups: int, m: int) -> np.ndarray:
    """Gaussian groups scaled by ``1e100``."""
    return 1e100 * gaussian(rng, groups, m)


FAMILIES: dict[str, Family] = {
    "gaussian": gaussian,
    "heavy_tailed": heavy_tailed,
    "near_constant": near_constant,
    "one_outlier": one_outlier,
    "two_valued": two_valued,
    "duplicates": duplicates,
    "tiny_scale": tiny_scale,
    "huge_scale": huge_scale,
}


def make_groups(family: str, rng: np.random.Generator, groups: int, m: int) -> np.ndarray:
    """``(groups, m)`` values of the named family; every row has two distinct values."""
    try:
        fn = FAMILIES[family]
    except KeyError:
        raise KeyError(f"unknown batch family {family!r}; known: {', '.join(FAMILIES)}") from None
    y = fn(rng, groups, m)
    constant = y.max(axis=1) == y.min(axis=1)
    y[constant, 0] += np.where(y[constant, 0] == 0, 1.0, np.abs(y[constant, 0]) * 1e-3)
    return y


def channel_batch(family: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """An ``(N, C, *)`` batch whose every channel (batch and spatial values) is of ``family``."""
    n, c, *spatial = shape
    m = n * int(np.prod(spatial, dtype=np.int64))
    y = make_groups(family, rng, c, m)  # (C, m) with m ordered as (N, *spatial)
    return np.ascontiguousarray(np.moveaxis(y.reshape((c, n, *spatial)), 0, 1))
