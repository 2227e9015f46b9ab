"""The one grid of settings every layer check runs on, and the one set of ``eps`` values.

A setting is ``(family, shape, eps, training, weight kind, seed)``: every batch family of
:mod:`bntheory.cases.batches`, a few input shapes, ``eps`` in :data:`EPS_VALUES`, training and
eval mode, the weight kinds cycled through so that each appears with every family.
"""

from __future__ import annotations

import itertools

from bntheory.cases.batches import FAMILIES

#: The two regimes of every BatchNorm claim: ``eps = 0`` and ``eps > 0``.
REGIMES: tuple[str, ...] = ("eps=0", "eps>0")
#: The ``eps`` of every layer check and Hypothesis strategy: 0, torch's default, and a large one.
EPS_VALUES: tuple[float, ...] = (0.0, 1e-5, 0.5)
#: Kinds of per-channel ``gamma``: ones, positive, negative, zero or mixed signs.
WEIGHT_KINDS: tuple[str, ...] = ("ones", "positive", "negative", "zero", "mixed")
#: Input shapes of the full and the quick grid.
SHAPES: tuple[tuple[int, ...], ...] = ((8, 3), (6, 2, 4), (4, 2, 3, 3), (64, 2))
QUICK_SHAPES: tuple[tuple[int, ...], ...] = ((8, 3), (4, 2, 3, 3))
#: Seeds per setting of the full grid (the quick grid has one).
SEEDS_PER_SETTING = 2


def settings(
    seed: int, quick: bool = False
) -> list[tuple[str, tuple[int, ...], float, bool, str, int]]:
    """The fixed list of (family, shape, eps, training, weight kind, seed) the report uses."""
    out = []
    shapes, per = (QUICK_SHAPES, 1) if quick else (SHAPES, SEEDS_PER_SETTING)
    for i, (family, shape, eps, training) in enumerate(
        itertools.product(FAMILIES, shapes, EPS_VALUES, (True, False))
    ):
        for k in range(per):
            kind = WEIGHT_KINDS[(i + k) % len(WEIGHT_KINDS)]
            out.append(
                (family, shape, eps, training, kind, seed * 1_000_003 + i * SEEDS_PER_SETTING + k)
            )
    return out


def describe(family: str, shape: tuple[int, ...], eps: float, training: bool, seed: int) -> str:
    """A setting in words, for failure messages and the report."""
    return f"{family}, shape {shape}, eps={eps}, {'train' if training else 'eval'}, seed {seed}"
