"""Hypothesis strategies for normalization-layer inputs, composed from small named pieces.

``batchnorm_cases()`` draws a whole BatchNorm call: input of shape ``(N, C)``, ``(N, C, L)``
or ``(N, C, H, W)`` with ``N >= 2``, an activation family per draw, ``weight`` of both
signs and zero, ``bias``, ``eps`` in ``{0, 1e-5, 0.5}``, training or eval mode, and the
directions ``g`` and ``v``.  Values within a family come from a seeded generator, so a
failing example shrinks to a small shape, a simple family and a small seed, and replays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bntheory.cases.batches import FAMILIES, channel_batch
from bntheory.cases.settings import EPS_VALUES, WEIGHT_KINDS
from bntheory.norms import grouped


def shapes(max_n: int = 6, max_c: int = 3, max_side: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    """``(N, C)``, ``(N, C, L)`` and ``(N, C, H, W)`` with ``N >= 2``."""
    n = st.integers(2, max_n)
    c = st.integers(1, max_c)
    side = st.integers(1, max_side)
    return st.one_of(
        st.tuples(n, c),
        st.tuples(n, c, side),
        st.tuples(n, c, side, side),
    )


def families() -> st.SearchStrategy[str]:
    """Hypothesis strategy: the name of a batch family."""
    return st.sampled_from(list(FAMILIES))


def weights(channels: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Per-channel ``gamma`` of a kind: ones, positive, negative, zero or mixed signs."""
    return grouped.weight_example(channels, kind, rng, always_draw_signs=False)


@dataclass
class LayerCall:
    """One call: the input, the arguments of ``F.batch_norm`` after it, and directions."""

    family: str
    x: torch.Tensor
    g: torch.Tensor
    v: torch.Tensor
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # readable in Hypothesis failure reports
        kw = {
            k: (tuple(t.tolist()) if isinstance(t, torch.Tensor) else t)
            for k, t in self.kwargs.items()
        }
        return (
            f"LayerCall(family={self.family!r}, shape={tuple(self.x.shape)}, "
            f"kwargs={kw}, x={self.x.tolist()})"
        )


def build_case(
    family: str,
    shape: tuple[int, ...],
    seed: int,
    eps: float,
    training: bool,
    weight_kind: str,
    device: str | torch.device = "cpu",
) -> LayerCall:
    """A deterministic case: the same arguments give the same tensors on the CPU."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = channel_batch(family, rng, shape)
    as_t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), device=device)  # noqa: E731
    kwargs: dict[str, Any] = {
        "weight": as_t(weights(c, weight_kind, rng)),
        "bias": as_t(rng.normal(size=c)),
        "training": training,
        "eps": eps,
    }
    if not training:
        groups = x.reshape(shape[0], c, -1).transpose(1, 0, 2).reshape(c, -1)
        kwargs["running_mean"] = as_t(groups.mean(axis=1) + rng.normal(size=c) * groups.std(axis=1))
        kwargs["running_var"] = as_t(groups.var(axis=1) * np.exp(rng.normal(size=c)) + 1e-3)
    g = as_t(rng.normal(size=shape))
    v = as_t(rng.normal(size=shape))
    return LayerCall(family=family, x=as_t(x), g=g, v=v, kwargs=kwargs)


@st.composite
def batchnorm_cases(
    draw: st.DrawFn,
    device: str | torch.device = "cpu",
    eps_values: tuple[float, ...] = EPS_VALUES,
    training: bool | None = None,
) -> LayerCall:
    """A full BatchNorm call (see the module docstring)."""
    shape = draw(shapes())
    family = draw(families())
    seed = draw(st.integers(0, 2**32 - 1))
    eps = draw(st.sampled_from(eps_values))
    mode = draw(st.booleans()) if training is None else training
    weight_kind = draw(st.sampled_from(WEIGHT_KINDS))
    return build_case(family, shape, seed, eps, mode, weight_kind, device)


def finite_values() -> st.SearchStrategy[float]:
    """0 or ``|t|`` in ``[1e-6, 1e6]``: squares and products of differences stay normal
    floats, where the error model (relative rounding ``u``) applies; subnormals do not obey it."""
    magnitude = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)
    return st.one_of(st.just(0.0), magnitude, magnitude.map(lambda t: -t))


@st.composite
def raw_batches(draw: st.DrawFn, device: str | torch.device = "cpu") -> torch.Tensor:
    """Arbitrary float64 batches from ``hypothesis.extra.numpy`` (Hypothesis's own nasty
    values, see :func:`finite_values`), every channel non-constant so ``eps = 0`` is admissible."""
    shape = draw(shapes(max_n=5, max_c=2, max_side=3))
    arr = draw(hnp.arrays(np.float64, shape, elements=finite_values()))
    flat = np.moveaxis(arr, 1, 0).reshape(shape[1], -1)
    for c in np.nonzero(flat.max(axis=1) == flat.min(axis=1))[0]:
        idx = (0, c) + (0,) * (len(shape) - 2)
        arr[idx] += 1.0 + abs(arr[idx])
    return torch.as_tensor(arr, device=device)


# ---------------------------------------------------------------- theorem cases
GH_FAMILIES = (
    "random",
    "aligned_yhat",
    "aligned_one",
    "rank_one",
    "psd",
    "indefinite",
    "scaled_identity",
    "mlp_head",
)
THEOREM_EPS = {"eps=0": (0.0,), "eps>0": (1e-5, 1e-2, 0.5)}


def _mlp_head_g_h(z: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``g`` and ``H`` of a small random head on each sample's activation: a hidden tanh
    layer and softmax cross-entropy over 3 classes, averaged over the batch (by autograd)."""
    from torch.func import grad, hessian

    k, hidden = 3, 4
    w1 = torch.as_tensor(rng.normal(size=(hidden,)), dtype=torch.float64)
    b1 = torch.as_tensor(rng.normal(size=(hidden,)), dtype=torch.float64)
    w2 = torch.as_tensor(rng.normal(size=(k, hidden)), dtype=torch.float64)
    labels = torch.as_tensor(rng.integers(0, k, size=z.shape[0]))

    def loss(zt: torch.Tensor) -> torch.Tensor:
        logits = torch.tanh(zt[:, None] * w1 + b1) @ w2.T
        return torch.nn.functional.cross_entropy(logits, labels)

    zt = torch.as_tensor(z, dtype=torch.float64)
    return grad(loss)(zt).numpy(), hessian(loss)(zt).numpy()


def g_and_h(
    family: str, yhat: np.ndarray, z: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A ``(g, H)`` pair of the named family for a channel with normalized values ``yhat``."""
    m = yhat.shape[0]
    g = rng.normal(size=m)
    sym = rng.normal(size=(m, m))
    h = (sym + sym.T) / 2
    if family == "aligned_yhat":
        g = rng.normal() * yhat + 1e-3 * g
    elif family == "aligned_one":
        g = rng.normal() * np.ones(m) + 1e-3 * g
    elif family == "rank_one":
        u = rng.normal(size=m)
        h = np.outer(u, u) * rng.choice([-1.0, 1.0])
    elif family == "psd":
        a = rng.normal(size=(m, m))
        h = a @ a.T / m
    elif family == "scaled_identity":
        h = abs(rng.normal()) * np.eye(m)
    elif family == "mlp_head":
        g, h = _mlp_head_g_h(z, rng)
    elif family not in ("random", "indefinite"):
        raise KeyError(f"unknown (g, H) family {family!r}; known: {', '.join(GH_FAMILIES)}")
    return g, h


def build_theorem_case(
    family: str,
    gh_family: str,
    m: int,
    seed: int,
    gamma: float,
    eps: float,
    device: str | torch.device = "cpu",
    lam: float = 1.0,
):
    """A deterministic :class:`~bntheory.theorems.case.Case`."""
    from bntheory.cases.batches import make_groups
    from bntheory.cases.theorem import Case

    rng = np.random.default_rng(seed)
    y = make_groups(family, rng, 1, m)[0]
    yc = y - y.mean()
    sigma = np.sqrt((yc**2).mean() + eps)
    yhat = yc / sigma if sigma > 0 else yc
    g, h = g_and_h(gh_family, yhat, gamma * yhat, rng)
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), device=device)  # noqa: E731
    return Case(t(y), float(gamma), 0.0, float(eps), t(g), t(h), float(lam))


@st.composite
def theorem_cases(
    draw: st.DrawFn,
    regime: str,
    max_m: int = 1024,
    device: str | torch.device = "cpu",
    with_lam: bool = False,
):
    """Cases of Theorems 1 and 2 in a regime (``"eps=0"`` or ``"eps>0"``): activation
    families, ``m`` from 2 (small first, so counterexamples shrink), ``gamma`` of both signs
    and magnitudes, and every ``(g, H)`` family; ``with_lam`` also draws Theorem 4.4's input
    bound ``lam`` (1 first, then small and large)."""
    m = draw(st.one_of(st.integers(2, 8), st.integers(2, 64), st.integers(2, max_m)))
    family = draw(families())
    gh = draw(st.sampled_from(GH_FAMILIES))
    gamma = draw(st.sampled_from([1.0, -1.0, 0.5, 3.0, -7.0, 0.01]))
    eps = draw(st.sampled_from(THEOREM_EPS[regime]))
    seed = draw(st.integers(0, 2**32 - 1))
    lam = draw(st.sampled_from([1.0, 0.1, 10.0, 1e-3, 1e3])) if with_lam else 1.0
    return build_theorem_case(family, gh, m, seed, gamma, eps, device, lam)
