r"""The quantities both sides of Theorems 1, 2 and 4.4 are made of, for a case.

:func:`quantities` computes :math:`\hat g = \nabla_y\hat{\mathcal L}` and
:math:`\hat g^\top\hat H\hat g` with ``torch.autograd`` through the registered BatchNorm layer
for one :class:`~bntheory.cases.theorem.Case`, and cross-checks them against the layer's closed
forms; :func:`batch_quantities` computes them for a batch of cases by the closed forms alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import grad, jvp

from bntheory.cases.theorem import Case, as_channels, bn_args, from_channels, lhat, take_batched
from bntheory.norms import get_layer
from bntheory.verify.compare import compare


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

    def take(self, idx: Tensor) -> Quantities:
        """The quantities of the cases ``idx`` of a batch."""
        return take_batched(self, idx)

    @property
    def ghat_bound(self) -> Tensor:
        r"""A priori :math:`\|\hat g\| \le |\gamma|\,\|g\|/\sigma` (the Jacobian's norm is at most
        :math:`|\gamma|/\sigma`): the size against which the rounding of :math:`\hat g` is
        measured."""
        return abs(self.case.gamma) * self.g.norm(dim=-1) / self.sigma

    @property
    def hhat_bound(self) -> Tensor:
        r"""A priori :math:`\|\hat H\| \le \frac{\gamma^2}{\sigma^2}\|H\|_F
        + \frac{6|\gamma|\|g\|}{\sigma^2\sqrt m}`
        (the Frobenius norm bounds the spectral norm and costs no decomposition)."""
        c = self.case
        h_norm = torch.linalg.matrix_norm(c.H)
        return (
            c.gamma**2 * h_norm + 6 * abs(c.gamma) * self.g.norm(dim=-1) / math.sqrt(self.m)
        ) / self.sigma**2

    @property
    def g(self) -> Tensor:
        """The loss's gradient ``g`` at the output."""
        return self.case.g


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
        cmp = compare(
            bn,
            "vjp",
            x,
            closed.reshape(-1, 1),
            ghat.reshape(-1, 1),
            args,
            {},
            g=case.g.reshape(-1, 1),
        )
        assert cmp.ok, f"closed-form vjp disagrees with autograd on {case.to_json()}: {cmp}"
    m = case.m
    mu = case.y.mean()
    var = float(((case.y - mu) ** 2).mean())
    sigma = math.sqrt(var + case.eps)
    q = Quantities(
        case=case,
        m=m,
        sigma=sigma,
        var=var,
        yhat=(case.y - mu) / sigma,
        ghat=ghat,
        ghat_Hhat_ghat=ghat @ hhat_ghat,
        ghat_H_ghat=ghat @ case.H @ ghat,
        g_H_g=case.g @ case.H @ case.g,
        kappa=bn.condition(x, *args)[0],
    )
    if cross_check:
        check_against_references(q, bn, x, args)
    return q


def check_against_references(q: Quantities, bn, x: Tensor, args: tuple) -> None:
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
    closed = float(
        j_gh @ case.H @ j_gh + q.ghat @ bn.hvp(x, col(case.g), col(q.ghat), *args).reshape(-1)
    )
    auto = float(q.ghat_Hhat_ghat)
    assert math.isnan(c_scale) or abs(closed - auto) <= tol * c_scale, (
        f"closed-form ghat^T Hhat ghat {closed!r} disagrees with autograd {auto!r} on "
        f"{case.to_json()}"
    )
    if q.m <= SYMBOLIC_MAX_M:
        s_ghat, s_curv = symbolic_quantities(
            case.y.tolist(), case.gamma, case.beta, case.eps, case.g.tolist(), case.H.tolist()
        )
        err = float(
            torch.linalg.vector_norm(q.ghat.cpu() - torch.tensor(s_ghat, dtype=torch.float64))
        )
        assert err <= tol * g_scale, (
            f"autograd ghat disagrees with the symbolic one by {err:.3g} on {case.to_json()}"
        )
        assert math.isnan(c_scale) or abs(s_curv - auto) <= tol * c_scale, (
            f"autograd ghat^T Hhat ghat {auto!r} disagrees with the symbolic {s_curv!r} on "
            f"{case.to_json()}"
        )


def batch_quantities(cases: Case) -> Quantities:
    """The catalogue's ingredients for a batch of cases, by the closed forms."""
    bn = get_layer("batchnorm")
    x, args = as_channels(cases.y), bn_args(cases)
    m = cases.y.shape[-1]
    ghat = from_channels(bn.vjp(x, as_channels(cases.g), *args), cases.y)
    j_gh = from_channels(bn.jvp(x, as_channels(ghat), *args), cases.y)
    curv = from_channels(bn.hvp(x, as_channels(cases.g), as_channels(ghat), *args), cases.y)
    # H applied to the three vectors at once: one pass over the (K, m, m) H
    h_jgh, h_ghat, h_g = (cases.H @ torch.stack((j_gh, ghat, cases.g), -1)).unbind(-1)
    mu = cases.y.mean(-1, keepdim=True)
    var = ((cases.y - mu) ** 2).mean(-1)
    sigma = torch.sqrt(var + cases.eps)
    return Quantities(
        case=cases,
        m=m,
        sigma=sigma,
        var=var,
        yhat=(cases.y - mu) / sigma.unsqueeze(-1),
        ghat=ghat,
        ghat_Hhat_ghat=(j_gh * h_jgh).sum(-1) + (curv * ghat).sum(-1),
        ghat_H_ghat=(ghat * h_ghat).sum(-1),
        g_H_g=(cases.g * h_g).sum(-1),
        kappa=bn.condition(x, *args),
    )
