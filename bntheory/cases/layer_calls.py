"""Seeded calls of any registered layer: its arguments from ``example_kwargs``, its input
filled group by group with a batch family (so every normalization group is a hard case)."""

from __future__ import annotations

import numpy as np
import torch

from bntheory.cases.batches import make_groups
from bntheory.cases.settings import EPS_VALUES, WEIGHT_KINDS
from bntheory.cases.strategies import LayerCall
from bntheory.norms import Normalization


def group_index(layer: Normalization, shape: tuple[int, ...], kwargs: dict) -> torch.Tensor:
    """``(G, m)`` positions (in the flattened input) of every group's values."""
    n = int(np.prod(shape))
    probe = torch.arange(n, dtype=torch.float64).reshape(shape)
    return layer.groups(probe, **_cpu(kwargs)).round().long()


def _cpu(kwargs: dict) -> dict:
    return {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}


def layer_case(
    layer: Normalization,
    family: str,
    shape: tuple[int, ...],
    seed: int,
    eps: float,
    training: bool,
    weight_kind: str,
    device: str | torch.device = "cpu",
) -> LayerCall | None:
    """A deterministic call of ``layer`` (None where the layer has no such setting)."""
    rng = np.random.default_rng(seed)
    kwargs = layer.example_kwargs(
        tuple(shape), eps=eps, training=training, weight_kind=weight_kind, rng=rng, device=device
    )
    if kwargs is None:
        return None
    index = group_index(layer, tuple(shape), kwargs)
    if index.shape[1] < 2 and (training and eps == 0):
        return None  # a group of one value is constant: no scale to divide by with eps = 0
    values = np.empty(int(np.prod(shape)))
    values[index.reshape(-1).numpy()] = make_groups(family, rng, *index.shape).reshape(-1)
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), device=device)  # noqa: E731
    x = t(values.reshape(shape))
    return LayerCall(
        family=family, x=x, g=t(rng.normal(size=shape)), v=t(rng.normal(size=shape)), kwargs=kwargs
    )


def layer_calls(
    layer: Normalization,
    device: str | torch.device = "cpu",
    eps_values: tuple[float, ...] = EPS_VALUES,
    training: bool | None = None,
):
    """Hypothesis strategy: seeded calls of ``layer`` over families, shapes, ``eps``, modes and
    weight kinds; settings the layer has no arguments for are filtered out."""
    from hypothesis import strategies as st

    from bntheory.cases.strategies import families, shapes

    @st.composite
    def draw(d):
        case = layer_case(
            layer,
            d(families()),
            d(shapes()),
            d(st.integers(0, 2**32 - 1)),
            d(st.sampled_from(eps_values)),
            d(st.booleans()) if training is None else training,
            d(st.sampled_from(WEIGHT_KINDS)),
            device,
        )
        from hypothesis import assume

        assume(case is not None)
        return case

    return draw()
