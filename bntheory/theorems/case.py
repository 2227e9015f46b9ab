r"""A *case* of Theorems 1 and 2 and the quantities both sides are made of.

A case is ``(y, gamma, beta, eps, g, H)`` for one channel of ``m`` activations (DESIGN.md):
any ``(g, H)`` is realised by the quadratic loss
:math:`\mathcal L(z) = g^\top(z - z_0) + \tfrac12 (z-z_0)^\top H (z-z_0)` at :math:`z_0 = \mathrm{BN}(y)`,
so :math:`\nabla_z\mathcal L = g` and :math:`\nabla^2_z\mathcal L = H` there.
:func:`quantities` computes :math:`\hat g = \nabla_y\hat{\mathcal L}` and
:math:`\hat g^\top\hat H\hat g` with ``torch.autograd`` through the registered BatchNorm layer,
and cross-checks them against the layer's closed forms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor
from torch.func import grad, jvp

from bntheory.norms import get_layer
from bntheory.verify.compare import compare


def _take(obj, idx: Tensor):
    """``obj`` (a batched dataclass) with every batched field indexed by ``idx``: tensors
    with a leading batch axis and nested batched dataclasses; scalars are shared."""
    k = obj.y.shape[0] if isinstance(obj, Case) else obj.case.y.shape[0]
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
        return self.y.shape[0]

    def take(self, idx: Tensor) -> "Case":
        """The cases ``idx`` of a batch of cases."""
        return _take(self, idx)

    def to_json(self) -> dict:
        out = {"m": self.m, "y": self.y.tolist(), "gamma": self.gamma, "beta": self.beta, "eps": self.eps,
               "g": self.g.tolist(), "H": self.H.tolist()}
        if self.lam != 1.0:
            out["lam"] = self.lam
        return out

    @staticmethod
    def from_json(d: dict, device: str | torch.device = "cpu") -> "Case":
        t = lambda a: torch.tensor(a, dtype=torch.float64, device=device)  # noqa: E731
        return Case(t(d["y"]), float(d["gamma"]), float(d["beta"]), float(d["eps"]), t(d["g"]), t(d["H"]),
                    float(d.get("lam", 1.0)))


@dataclass
class Quantities:
    """Everything a statement's sides are built from, in float64."""

    case: Case
    m: int
    sigma: float
    var: float
    yhat: Tensor
    ghat: Tensor  # by autograd
    ghat_Hhat_ghat: Tensor  # by autograd
    ghat_H_ghat: Tensor
    g_H_g: Tensor
    kappa: Tensor  # the layer's condition estimate

    def take(self, idx: Tensor) -> "Quantities":
        """The quantities of the cases ``idx`` of a batch."""
        return _take(self, idx)

    @property
    def ghat_bound(self) -> Tensor:
        r"""A priori :math:`\|\hat g\| \le |\gamma|\,\|g\|/\sigma` (the Jacobian's norm is at most
        :math:`|\gamma|/\sigma`): the size against which the rounding of :math:`\hat g` is measured."""
        return abs(self.case.gamma) * self.g.norm(dim=-1) / self.sigma

    @property
    def hhat_bound(self) -> Tensor:
        r"""A priori :math:`\|\hat H\| \le \frac{\gamma^2}{\sigma^2}\|H\|_F + \frac{6|\gamma|\|g\|}{\sigma^2\sqrt m}`
        (the Frobenius norm bounds the spectral norm and costs no decomposition)."""
        c = self.case
        h_norm = torch.linalg.matrix_norm(c.H)
        return (c.gamma**2 * h_norm + 6 * abs(c.gamma) * self.g.norm(dim=-1) / math.sqrt(self.m)) / self.sigma**2

    @property
    def g(self) -> Tensor:
        return self.case.g


def as_channels(t: Tensor) -> Tensor:
    """A case's ``(m,)`` vector, or a batch's ``(K, m)``, as a BatchNorm input ``(m, K)``:
    every case is one channel, so the layer evaluates a whole batch of cases at once."""
    return t.reshape(-1, t.shape[-1]).T


def from_channels(t: Tensor, like: Tensor) -> Tensor:
    return t.T.reshape(like.shape)


def bn_args(case: Case) -> tuple:
    """BatchNorm's arguments for a case (or a batch of cases sharing one ``eps``)."""
    k = 1 if case.y.dim() == 1 else case.y.shape[0]
    as_t = lambda v: torch.as_tensor(v, dtype=torch.float64, device=case.y.device).reshape(-1).expand(k).clone()  # noqa: E731
    return (None, None, as_t(case.gamma), as_t(case.beta), True, 0.1, float(case.eps))


def lhat(case: Case):
    """:math:`y \\mapsto \\mathcal L(\\mathrm{BN}(y))` with the quadratic loss realising ``(g, H)``."""
    bn = get_layer("batchnorm")
    args = bn_args(case)
    z0 = bn.stateless_forward(case.y.reshape(-1, 1), *args).reshape(-1).detach()

    def f(y: Tensor) -> Tensor:
        d = bn.stateless_forward(y.reshape(-1, 1), *args).reshape(-1) - z0
        return case.g @ d + 0.5 * d @ (case.H @ d)

    return f


def quantities(case: Case, cross_check: bool = True) -> Quantities:
    """Both theorems' ingredients by autograd; with ``cross_check`` also by the closed forms,
    which must agree under the error model (else AssertionError)."""
    bn = get_layer("batchnorm")
    f = lhat(case)
    ghat = grad(f)(case.y)
    hhat_ghat = jvp(grad(f), (case.y,), (ghat,))[1]  # one Hessian-vector product, any m
    args = bn_args(case)
    x = case.y.reshape(-1, 1)
    if cross_check:
        closed = bn.vjp(x, case.g.reshape(-1, 1), *args).reshape(-1)
        cmp = compare(bn, "vjp", x, closed.reshape(-1, 1), ghat.reshape(-1, 1), args, {}, g=case.g.reshape(-1, 1))
        assert cmp.ok, f"closed-form vjp disagrees with autograd on {case.to_json()}: {cmp}"
    m = case.m
    mu = case.y.mean()
    var = float(((case.y - mu) ** 2).mean())
    sigma = math.sqrt(var + case.eps)
    q = Quantities(
        case=case, m=m, sigma=sigma, var=var, yhat=(case.y - mu) / sigma, ghat=ghat,
        ghat_Hhat_ghat=ghat @ hhat_ghat, ghat_H_ghat=ghat @ case.H @ ghat,
        g_H_g=case.g @ case.H @ case.g, kappa=bn.condition(x, *args)[0],
    )
    if cross_check:
        _cross_check(q, bn, x, args)
    return q


def _cross_check(q: Quantities, bn, x: Tensor, args: tuple) -> None:
    """Autograd's ``ghat^T Hhat ghat`` against the closed forms, and for small ``m`` both
    ``ghat`` and ``ghat^T Hhat ghat`` against the lambdified symbolic derivatives
    (:mod:`bntheory.verify.symbolic_ref`); AssertionError on a disagreement beyond the error
    model, measured against the a-priori sizes ``|ghat| <= ghat_bound`` and
    ``|ghat^T Hhat ghat| <= ghat_bound^2 hhat_bound`` (the scales the verdicts use)."""
    from bntheory.verify.errormodel import relative_tolerance
    from bntheory.verify.symbolic_ref import SYMBOLIC_MAX_M, symbolic_quantities

    case = q.case
    tol = float(relative_tolerance(torch.float64, q.kappa, q.m))
    g_scale, c_scale = float(q.ghat_bound), float(q.ghat_bound**2 * q.hhat_bound)
    if not math.isfinite(c_scale):
        # ghat^T Hhat ghat overflows float64 (e.g. sigma ~ 1e-100): nothing to compare, and
        # no statement about it can be judged in float64 (their margins are not finite).
        c_scale = math.nan
    col = lambda t: t.reshape(-1, 1)  # noqa: E731
    j_gh = bn.jvp(x, col(q.ghat), *args).reshape(-1)
    closed = float(j_gh @ case.H @ j_gh + q.ghat @ bn.hvp(x, col(case.g), col(q.ghat), *args).reshape(-1))
    auto = float(q.ghat_Hhat_ghat)
    assert math.isnan(c_scale) or abs(closed - auto) <= tol * c_scale, (
        f"closed-form ghat^T Hhat ghat {closed!r} disagrees with autograd {auto!r} on {case.to_json()}")
    if q.m <= SYMBOLIC_MAX_M:
        s_ghat, s_curv = symbolic_quantities(case.y.tolist(), case.gamma, case.beta, case.eps,
                                             case.g.tolist(), case.H.tolist())
        err = float(torch.linalg.vector_norm(q.ghat.cpu() - torch.tensor(s_ghat, dtype=torch.float64)))
        assert err <= tol * g_scale, f"autograd ghat disagrees with the symbolic one by {err:.3g} on {case.to_json()}"
        assert math.isnan(c_scale) or abs(s_curv - auto) <= tol * c_scale, (
            f"autograd ghat^T Hhat ghat {auto!r} disagrees with the symbolic {s_curv!r} on {case.to_json()}")
