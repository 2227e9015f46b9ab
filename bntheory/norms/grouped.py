r"""The shared machinery of the layers that normalize groups by a scale statistic.

Every built-in layer other than BatchNorm's optimised implementation is, per normalization
group :math:`y\in\mathbb R^m`, the map

.. math::
    c = Py\ \ (\text{or } c = y \text{ without centering}),\qquad
    n = c / t(y),\qquad z = \gamma\odot n + \beta ,

with :math:`P = I - \tfrac1m\mathbf 1\mathbf 1^\top`, an elementwise affine map
(:math:`\gamma`, :math:`\beta` may vary inside a group: LayerNorm, GroupNorm, noisy
BatchNorm) and a scale :math:`t` of one of two kinds:

* ``"std"``: :math:`t = \sqrt{\overline{c^2} + \varepsilon}` (BatchNorm, LayerNorm,
  GroupNorm, InstanceNorm; RMSNorm without centering);
* ``"lp"``: :math:`t = s_p(c) + \varepsilon` with :math:`s_p = (\overline{|c|^p})^{1/p}`
  for p = 1, 2 and :math:`s_\infty = \max|c|` (the paper's :math:`\ell_p` batch
  normalization).

Write :math:`w = \nabla_y t` and :math:`\tilde g = \gamma\odot g`.  Then, exactly,

.. math::
    Jv = \gamma\odot\tfrac1t\Big(Pv - c\,\tfrac{\langle w, v\rangle}{t}\Big),\qquad
    J^\top g = \tfrac1t\Big(P\tilde g - w\,\tfrac{\langle c,\tilde g\rangle}{t}\Big),

.. math::
    \nabla^2_y\langle g, z\rangle v =
      -\frac{\langle w,v\rangle P\tilde g + \langle P\tilde g, v\rangle w}{t^2}
      + \frac{2\langle \tilde g, c\rangle\langle w, v\rangle}{t^3} w
      - \frac{\langle\tilde g, c\rangle}{t^2}\,\nabla^2 t\, v ,

with :math:`w = c/(mt)`, :math:`\nabla^2 t\,v = Jv/(m\gamma)` for ``"std"``;
:math:`w = P\,\mathrm{sign}(c)/m` for p = 1 and :math:`w = P e_K` (the sign of the
largest :math:`|c_k|`, split evenly over ties as torch's ``amax`` does) for p = ∞, where
:math:`\nabla^2 t = 0` almost everywhere; and for p = 2, :math:`w = c/(ms)`,
:math:`\nabla^2 t\,v = (Pv - c\langle w, v\rangle/s)/(ms)`.  ``proofs/p8_group_layers.py``,
``p9_rmsnorm.py`` and ``p10_lp_batchnorm.py`` derive them from the layers' symbolic
forwards.  In eval mode (fixed statistics) the map is affine and its curvature is zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from bntheory.errors import InvalidArgumentError, NonFiniteInputError, ZeroVarianceError
from bntheory.norms import validate
from bntheory.norms.base import Normalization, group_norm, rows_condition


# ----------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Plan:
    """How one call of a layer normalizes: the grouping, the scale, the affine map.

    ``view`` rearranges an input-shaped tensor so that ``dims`` are one group's axes (a
    reshape, no copy, for contiguous inputs); ``unview`` undoes it.  ``gamma``/``beta``
    broadcast against the view (None: 1 and 0).  ``fixed`` holds the eval-mode statistics
    ``(mu, t)`` (broadcastable against the view); None means batch statistics.
    """

    layer: str
    view: Callable[[Tensor], Tensor]
    unview: Callable[[Tensor], Tensor]
    dims: tuple[int, ...]
    m: int
    gamma: Tensor | None
    beta: Tensor | None
    eps: float
    center: bool
    kind: str  # "std" or "lp"
    p: float = 2.0
    fixed: tuple[Tensor, Tensor] | None = None

    def rows(self, t: Tensor) -> Tensor:
        """``(G, m)``: one row per group of the input-shaped ``t``."""
        return self.view_rows(self.view(t))

    def view_rows(self, v: Tensor) -> Tensor:
        """``(G, m)``: one row per group of a tensor in the view's layout."""
        keep = [d for d in range(v.dim()) if d not in self.dims]
        return v.permute(*keep, *self.dims).reshape(-1, self.m)

    def scaled(self, g: Tensor) -> Tensor:
        r""":math:`\tilde g = \gamma\odot g` (``g`` in the view's layout)."""
        return g if self.gamma is None else g * self.gamma


@dataclass
class Stats:
    """A group's statistics in the view: ``c`` (centered or raw values), ``t`` (the scale,
    keepdim), ``w = grad t`` and, for p = 2, ``s`` (``t - eps``)."""

    c: Tensor
    t: Tensor
    w: Tensor
    s: Tensor | None = None


def _mean(t: Tensor, plan: Plan) -> Tensor:
    return t.mean(plan.dims, keepdim=True)


def _center(t: Tensor, plan: Plan) -> Tensor:
    return t - _mean(t, plan) if plan.center else t


def lp_scale(c: Tensor, p: float, dims: tuple[int, ...]) -> Tensor:
    r""":math:`s_p(c)`: :math:`(\overline{|c|^p})^{1/p}`, or :math:`\max|c|` for p = ∞."""
    if p == math.inf:
        return c.abs().amax(dims, keepdim=True)
    return c.abs().pow(p).mean(dims, keepdim=True).pow(1 / p)


def batch_stats(x: Tensor, plan: Plan) -> Stats:
    """The statistics of every group, with the zero-scale and overflow checks."""
    c = _center(x, plan)
    m = plan.m
    s = None
    if plan.kind == "std":
        t = torch.sqrt(_mean(c * c, plan) + plan.eps)
    else:
        s = lp_scale(c, plan.p, plan.dims)
        t = s + plan.eps
    _check_scale(x, plan, t)
    if plan.kind == "std":
        w = c / (m * t)
    elif plan.p == 1:
        w = _center(torch.sign(c), plan) / m
    elif (
        plan.p == 2
    ):  # s = 0 (a constant group, eps > 0): 0, the least subgradient, as sign(0) = 0 for p = 1
        w = c / (m * torch.where(s > 0, s, 1.0))
    else:  # p = inf: d max|c| splits evenly over the tied maxima, as torch.amax's backward does
        top = (c.abs() == s).to(c.dtype)
        w = _center(torch.sign(c) * top / top.sum(plan.dims, keepdim=True), plan)
    return Stats(c=c, t=t, w=w, s=s)


def _check_scale(x: Tensor, plan: Plan, t: Tensor) -> None:
    if not bool(torch.isfinite(t).all()):
        g = int((~torch.isfinite(plan.rows(t.expand_as(plan.view(x))))).any(1).nonzero()[0])
        raise NonFiniteInputError(
            f"{plan.layer}: the scale of group {g} overflows float64 (input values up to "
            f"{float(plan.rows(x.detach()).abs()[g].max()):.3g}); rescale the input"
        )
    if not bool((t > 0).all()):
        g = int((plan.rows(t.expand_as(plan.view(x))) <= 0).any(1).nonzero()[0])
        what = "constant" if plan.center else "zero"
        raise ZeroVarianceError(
            f"{plan.layer}: group {g} of the input is {what} (value "
            f"{plan.rows(x.detach())[g, 0].item()}) so its scale is 0, and eps=0: the "
            "normalization divides by zero; use eps > 0"
        )


def _dot(a: Tensor, b: Tensor, plan: Plan) -> Tensor:
    r""":math:`\langle a, b\rangle` of every group, keepdim."""
    return (a * b).sum(plan.dims, keepdim=True)


def t_hess_t(v: Tensor, st: Stats, plan: Plan) -> Tensor | None:
    r""":math:`t\,\nabla^2 t\, v` (None where :math:`\nabla^2 t` is zero almost everywhere:
    p = 1, ∞)."""
    m = plan.m
    if plan.kind == "std":  # t * (Pv - c <w, v>/t)/(m t)
        return (_center(v, plan) - st.c * (_dot(st.w, v, plan) / st.t)) / m
    if plan.p == 2:  # t * (Pv - c <w, v>/s)/(m s); 0 where s = 0 (see batch_stats)
        s = torch.where(st.s > 0, st.s, 1.0)
        return (
            torch.where(st.s > 0, st.t / s, 0.0)
            * (_center(v, plan) - st.c * (_dot(st.w, v, plan) / s))
            / m
        )
    return None


# ----------------------------------------------------------- the layer class
class GroupNormalization(Normalization):
    """A layer of the form above: a subclass gives :meth:`plan` (and :meth:`forward` when it
    has side effects such as running statistics), everything else is shared."""

    def plan(self, x: Tensor, *args: Any, **kwargs: Any) -> Plan:  # pragma: no cover - abstract
        """The validated arguments of a call as a :class:`Plan`: how it groups, scales and
        maps ``x``."""
        raise NotImplementedError

    # ----------------------------------------------------------------- forward
    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r""":math:`z = \gamma\odot c/t + \beta` of every group of ``x``."""
        return self.apply(self.plan(x, *args, **kwargs), x)

    def apply(self, plan: Plan, x: Tensor) -> Tensor:
        r""":math:`z = \gamma\odot c/t + \beta` as ``plan`` says: with the batch's
        statistics, or the fixed ``(mu, t)`` of eval mode."""
        vx = plan.view(x)
        if plan.fixed is not None:
            mu, t = plan.fixed
            c = vx - mu
        else:
            st = batch_stats(vx, plan)
            c, t = st.c, st.t
        out = c / t if plan.gamma is None else plan.gamma * c / t
        if plan.beta is not None:
            out = out + plan.beta
        return plan.unview(out)

    # -------------------------------------------------------------- closed forms
    def jvp(self, x: Tensor, v: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r"""Closed-form :math:`Jv = \gamma\odot\tfrac1t(Pv - c\,\langle w, v\rangle/t)`;
        eval mode: :math:`\gamma\odot v/t`."""
        validate.check_like(self.name, "v", v, x)
        return plan_jvp(self.plan(x, *args, **kwargs), x, v)

    def vjp(self, x: Tensor, g: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r"""Closed-form :math:`J^\top g = \tfrac1t(P\tilde g - w\,\langle c,\tilde g\rangle/t)`;
        eval mode: :math:`\tilde g/t`."""
        validate.check_like(self.name, "g", g, x)
        return plan_vjp(self.plan(x, *args, **kwargs), x, g)

    def hvp(self, x: Tensor, g: Tensor, v: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r"""Closed-form :math:`\nabla^2_y\langle g, z\rangle v` (the module's formula);
        eval mode: zero."""
        validate.check_like(self.name, "g", g, x)
        validate.check_like(self.name, "v", v, x)
        return plan_hvp(self.plan(x, *args, **kwargs), x, g, v)

    # ---------------------------------------------------------- error-model hooks
    def groups(self, t: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """``t`` (input-shaped) as ``(G, m)``, one row per group of the plan."""
        # the plan reads only shapes: a zero input of t's shape spares the value checks, so
        # that an error tensor (which may hold Inf) can be grouped too
        return self.plan(torch.zeros_like(t), *args, **kwargs).rows(t)

    def condition(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r"""Per group :math:`\kappa = \min(\max(1, \max|y|/\sqrt{\overline{c^2}}), 1/u)` for a
        centering layer (centering loses that many digits; see BatchNorm), by
        :func:`~bntheory.norms.base.rows_condition`; 1 for RMSNorm and for eval mode (affine
        maps, whose term scales carry :math:`|y|` and :math:`|\mu|`)."""
        plan = self.plan(x, *args, **kwargs)
        rows = plan.rows(x)
        ones = torch.ones(rows.shape[0], dtype=x.dtype, device=x.device)
        if not plan.center or plan.fixed is not None:
            return ones
        return rows_condition(rows, x.dtype)

    def term_scale(
        self, op: str, x: Tensor, g: Tensor | None, v: Tensor | None, *args: Any, **kwargs: Any
    ) -> Tensor:
        r"""Per group, the summed norms of the terms of the formulas above, each inner product
        counted with its Cauchy–Schwarz size (:math:`Pu` counts :math:`2\|u\|`): with
        :math:`W = \|w\|`, :math:`C = \|c\|`, :math:`\Gamma = \max|\gamma|`, jvp
        :math:`\Gamma(2 + CW/t)\|v\|/t`, vjp :math:`(2 + CW/t)\|\tilde g\|/t`, hvp
        :math:`(4W + 2CW^2/t)\|v\|\|\tilde g\|/t^2 + C\|\tilde g\|\,h/t^2`, where
        :math:`h = (2 + CW/s)\|v\|/(ms)` bounds :math:`\|\nabla^2 t\,v\|` (0 for p = 1, ∞)."""
        return plan_term_scale(self.plan(x, *args, **kwargs), op, x, g, v)


# ------------------------------------------------- closed forms of one plan
def plan_jvp(plan: Plan, x: Tensor, v: Tensor) -> Tensor:
    r"""Closed-form :math:`Jv = \gamma\odot\tfrac1t(Pv - c\,\langle w, v\rangle/t)`;
    eval mode: :math:`\gamma\odot v/t`."""
    vx, vv = plan.view(x), plan.view(v)
    if plan.fixed is not None:
        return plan.unview(plan.scaled(vv) / plan.fixed[1])
    st = batch_stats(vx, plan)
    jv = (_center(vv, plan) - st.c * (_dot(st.w, vv, plan) / st.t)) / st.t
    return plan.unview(plan.scaled(jv))


def plan_vjp(plan: Plan, x: Tensor, g: Tensor) -> Tensor:
    r"""Closed-form :math:`J^\top g = \tfrac1t(P\tilde g - w\,\langle c,\tilde g\rangle/t)`;
    eval mode: :math:`\tilde g/t`."""
    vx, gg = plan.view(x), plan.scaled(plan.view(g))
    if plan.fixed is not None:
        return plan.unview(gg / plan.fixed[1])
    st = batch_stats(vx, plan)
    return plan.unview((_center(gg, plan) - st.w * (_dot(st.c, gg, plan) / st.t)) / st.t)


def plan_hvp(plan: Plan, x: Tensor, g: Tensor, v: Tensor) -> Tensor:
    r"""Closed-form :math:`\nabla^2_y\langle g, z\rangle v` (the module's formula);
    eval mode: zero."""
    if plan.fixed is not None:
        return torch.zeros_like(x)
    vx, gg, vv = plan.view(x), plan.scaled(plan.view(g)), plan.view(v)
    st = batch_stats(vx, plan)
    t = st.t
    pg = _center(gg, plan)
    # one division by t^2 at the end, with <g~, c>/t: t^3 underflows for tiny groups (~1e-100)
    wv, pgv, gn = _dot(st.w, vv, plan), _dot(pg, vv, plan), _dot(gg, st.c, plan) / t
    out = (2 * gn * wv) * st.w - wv * pg - pgv * st.w
    th = t_hess_t(vv, st, plan)
    if th is not None:
        out = out - gn * th
    return plan.unview(out / (t * t))


def plan_term_scale(plan: Plan, op: str, x: Tensor, g: Tensor | None, v: Tensor | None) -> Tensor:
    """:meth:`GroupNormalization.term_scale` of one plan."""
    vx = plan.view(x)
    rows = lambda t: plan.view_rows(t.expand_as(vx))  # view layout -> (G, m)
    norm = lambda t: group_norm(rows(t))
    gam = torch.ones_like(vx) if plan.gamma is None else plan.gamma.abs()
    g_max = rows(gam).amax(1)
    beta = torch.zeros_like(g_max) if plan.beta is None else norm(plan.beta)
    if plan.fixed is not None:
        mu, t = plan.fixed
        tt = rows(t).abs().amin(1)
        if op == "forward":
            return g_max * (norm(vx) + norm(mu)) / tt + beta
        if op in ("jvp", "vjp"):
            return g_max * norm(plan.view(v if op == "jvp" else g)) / tt
        return torch.zeros_like(g_max)
    st = batch_stats(vx, plan)
    t = rows(st.t)[:, 0]
    n_c, n_w = norm(st.c), norm(st.w)
    if op == "forward":
        return g_max * n_c / t + beta
    if op == "jvp":
        return g_max * (2 + n_c * n_w / t) * norm(plan.view(v)) / t
    gt = norm(plan.scaled(plan.view(g)))
    if op == "vjp":
        return (2 + n_c * n_w / t) * gt / t
    if op != "hvp":
        raise InvalidArgumentError(f"op must be forward, jvp, vjp or hvp, got {op!r}")
    n_v = norm(plan.view(v))
    h = 0.0
    if plan.kind == "std" or plan.p == 2:
        s = t if plan.kind == "std" else rows(st.s)[:, 0]
        s = torch.where(s > 0, s, torch.inf)  # s = 0: the p = 2 curvature is taken as 0
        h = (2 + n_c * n_w / s) * n_v / (plan.m * s)
    return (4 * n_w * n_v * gt + 2 * n_c / t * n_w * n_w * n_v * gt + n_c * gt * h) / (t * t)


# ------------------------------------------------------------ shared helpers
def weight_example(
    size: int | tuple[int, ...], kind: str, rng: Any, *, always_draw_signs: bool
) -> Any:
    """A numpy ``weight`` (gamma) of a kind: ``ones``, ``positive``, ``negative``, ``zero``, or
    anything else for mixed signs with some zeros; log-normal magnitudes.  The one definition
    of the weight kinds, shared by the layers' examples and ``bntheory.cases.strategies``.

    The random stream is part of each caller's seeded cases: log-normal magnitudes first, then
    the signs, which the layers' examples draw for every kind (``always_draw_signs=True``) and
    the strategies only for mixed signs."""
    import numpy as np

    mag = np.exp(rng.normal(0, 1, size=size))
    fixed = {
        "ones": lambda: np.ones(size),
        "positive": lambda: mag,
        "negative": lambda: -mag,
        "zero": lambda: np.zeros(size),
    }
    signs = (
        rng.choice([-1.0, 0.0, 1.0], size=size) if always_draw_signs or kind not in fixed else None
    )
    return fixed[kind]() if kind in fixed else signs * mag


def affine_example(
    size: tuple[int, ...], weight_kind: str, rng: Any, device: str | torch.device, bias: bool = True
) -> dict[str, Tensor]:
    """``weight`` of a kind (:func:`weight_example`) and a Gaussian ``bias``."""
    weight = weight_example(size, weight_kind, rng, always_draw_signs=True)
    out = {"weight": torch.as_tensor(weight, dtype=torch.float64, device=device)}
    if bias:
        out["bias"] = torch.as_tensor(rng.normal(size=size), dtype=torch.float64, device=device)
    return out


def running_example(channels: int, rng: Any, device: str | torch.device) -> dict[str, Tensor]:
    """Running statistics for eval mode: Gaussian means, log-normal variances."""
    t = lambda a: torch.as_tensor(a, dtype=torch.float64, device=device)
    return {
        "running_mean": t(rng.normal(size=channels)),
        "running_var": t(rng.lognormal(0, 1, size=channels)),
    }
