r"""A *case* of the theorems about one BatchNorm channel: ``(y, gamma, beta, eps, g, H)``.

A case is one channel of ``m`` activations ``y`` with the layer's ``gamma``, ``beta`` and
``eps``, and the gradient ``g`` and Hessian ``H`` of the loss with respect to the layer's
output (the notation of ``docs/architecture.md``).  Any ``(g, H)`` is realised by the
quadratic loss :math:`\mathcal L(z) = g^\top(z - z_0) + \tfrac12 (z-z_0)^\top H (z-z_0)` at
:math:`z_0 = \mathrm{BN}(y)`, so :math:`\nabla_z\mathcal L = g` and
:math:`\nabla^2_z\mathcal L = H` there.  The same type holds a batch of ``K`` cases.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from bntheory.norms import get_layer


def take_batched(obj, idx: Tensor):
    """``obj`` (a batched dataclass) with every batched field indexed by ``idx``: tensors
    with a leading batch axis and nested batched dataclasses; scalars are shared."""
    k = obj.y.shape[0] if hasattr(obj, "y") else obj.case.y.shape[0]
    changes = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == k:
            changes[f.name] = value[idx]
        elif hasattr(value, "take"):
            changes[f.name] = value.take(idx)
    return replace(obj, **changes)


@dataclass
class Case:
    """One case; the vectorised sweep uses the same type for ``K`` cases at once
    (``y``, ``g``: ``(K, m)``; ``gamma``, ``beta``: ``(K,)`` tensors; ``H``: ``(K, m, m)``;
    one shared ``eps``)."""

    y: Tensor  # (m,)
    gamma: float
    beta: float
    eps: float
    g: Tensor  # (m,)
    H: Tensor  # (m, m), symmetric
    lam: float = 1.0  # Theorem 4.4's bound on the input batch, ||X|| <= lam; unused elsewhere

    @property
    def m(self) -> int:
        """The number of activations in the channel."""
        return self.y.shape[0]

    def take(self, idx: Tensor) -> Case:
        """The cases ``idx`` of a batch of cases."""
        return take_batched(self, idx)

    def to_json(self) -> dict:
        """The case's numbers as JSON."""
        out = {
            "m": self.m,
            "y": self.y.tolist(),
            "gamma": self.gamma,
            "beta": self.beta,
            "eps": self.eps,
            "g": self.g.tolist(),
            "H": self.H.tolist(),
        }
        if self.lam != 1.0:
            out["lam"] = self.lam
        return out

    @staticmethod
    def from_json(d: dict, device: str | torch.device = "cpu") -> Case:
        """The case of :meth:`to_json`'s numbers."""
        t = lambda a: torch.tensor(a, dtype=torch.float64, device=device)  # noqa: E731
        return Case(
            t(d["y"]),
            float(d["gamma"]),
            float(d["beta"]),
            float(d["eps"]),
            t(d["g"]),
            t(d["H"]),
            float(d.get("lam", 1.0)),
        )


def as_channels(t: Tensor) -> Tensor:
    """A case's ``(m,)`` vector, or a batch's ``(K, m)``, as a BatchNorm input ``(m, K)``:
    every case is one channel, so the layer evaluates a whole batch of cases at once."""
    return t.reshape(-1, t.shape[-1]).T


def from_channels(t: Tensor, like: Tensor) -> Tensor:
    """A BatchNorm output ``(m, K)`` back in the shape of ``like``."""
    return t.T.reshape(like.shape)


def bn_args(case: Case) -> tuple:
    """BatchNorm's arguments for a case (or a batch of cases sharing one ``eps``)."""
    k = 1 if case.y.dim() == 1 else case.y.shape[0]
    as_t = lambda v: (
        torch.as_tensor(v, dtype=torch.float64, device=case.y.device).reshape(-1).expand(k).clone()
    )  # noqa: E731
    return (None, None, as_t(case.gamma), as_t(case.beta), True, 0.1, float(case.eps))


def lhat(case: Case):
    """:math:`y \\mapsto \\mathcal L(\\mathrm{BN}(y))` with the quadratic loss realising
    ``(g, H)``."""
    bn = get_layer("batchnorm")
    args = bn_args(case)
    z0 = bn.stateless_forward(case.y.reshape(-1, 1), *args).reshape(-1).detach()

    def f(y: Tensor) -> Tensor:
        d = bn.stateless_forward(y.reshape(-1, 1), *args).reshape(-1) - z0
        return case.g @ d + 0.5 * d @ (case.H @ d)

    return f
