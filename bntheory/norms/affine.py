r"""The derivatives with respect to the affine parameters: the blocks of ``(x, weight, bias)``.

Per group (notation of :mod:`bntheory.norms.grouped`), :math:`z = \gamma\odot n + \beta` with
:math:`n = c/t`.  The weight and bias enter a group through a *gather*: the entry :math:`i`
of the view holds :math:`\gamma_i = W_{k(i)}` and :math:`\beta_i = B_{l(i)}` for index maps
:math:`k`, :math:`l` (LayerNorm: the position inside the sample; BatchNorm, GroupNorm,
InstanceNorm: the channel).  Write :math:`R_W u = \big(\sum_{i:k(i)=k} u_i\big)_k` for the
adjoint of the gather (a sum over the entries that share a parameter), and
:math:`J_n u = \tfrac1t(Pu - c\,\langle w, u\rangle/t)`,
:math:`J_n^\top u = \tfrac1t(Pu - w\,\langle c, u\rangle/t)` for the Jacobian of :math:`n`
(the layer's Jacobian with :math:`\gamma = 1`).  For :math:`L = \langle g, z\rangle`,

.. math::
    \nabla_x L = J_n^\top(\gamma\odot g),\qquad
    \nabla_W L = R_W(g\odot n),\qquad \nabla_B L = R_B\, g ,

and for a tangent :math:`(v, V_W, V_B)` (with :math:`\dot\gamma_i = (V_W)_{k(i)}`,
:math:`\dot\beta_i = (V_B)_{l(i)}`),

.. math::
    \dot z = \gamma\odot J_n v + \dot\gamma\odot n + \dot\beta .

:math:`L` is linear in :math:`(W, B)` and :math:`B` enters additively, so the Hessian of
:math:`L` has :math:`H_{WW} = H_{BB} = H_{WB} = H_{xB} = 0`, and its product with the tangent
has the blocks

.. math::
    (Hv)_x = \nabla^2_x L\, v + J_n^\top(\dot\gamma\odot g),\qquad
    (Hv)_W = R_W\big(g\odot J_n v\big),\qquad (Hv)_B = 0 ,

where :math:`\nabla^2_x L\,v` is the layer's HVP (:func:`grouped.plan_hvp`).  The two mixed
blocks are transposes of each other,
:math:`\langle V_W, R_W(g\odot J_n v)\rangle = \langle J_n^\top(\dot\gamma\odot g), v\rangle`,
as a Hessian's must be.  In eval mode (fixed statistics :math:`\mu`, :math:`t`),
:math:`n = (x-\mu)/t` and :math:`J_n u = J_n^\top u = u/t`; :math:`\nabla^2_x L = 0`.

``proofs/p15_affine_blocks.py`` checks the parameter blocks (their SymPy transcription,
elementwise :math:`\gamma`, :math:`\beta`) against SymPy's derivatives of the layers'
symbolic forward at explicit ``m``; ``tests/norms/test_affine.py`` checks this module's
code, every block and direction, against autograd of each function's textbook forward, and
shows that each block fails with one of its terms dropped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from bntheory.errors import InvalidArgumentError
from bntheory.norms import grouped
from bntheory.norms.base import group_norm, rows_condition
from bntheory.norms.batchnorm import parse_args
from bntheory.norms.registry import get_layer

#: The arguments a block can belong to, in order.
NAMES: tuple[str, ...] = ("x", "weight", "bias")


@dataclass(frozen=True)
class Blocks:
    """One tensor per argument of ``(x, weight, bias)``; None where the call has none."""

    x: Tensor
    weight: Tensor | None = None
    bias: Tensor | None = None

    def items(self) -> list[tuple[str, Tensor]]:
        """The present blocks as ``(name, tensor)`` pairs, in :data:`NAMES` order."""
        return [(k, getattr(self, k)) for k in NAMES if getattr(self, k) is not None]


def batchnorm_plan(x: Tensor, kwargs: dict[str, Any]) -> grouped.Plan:
    """The :class:`~bntheory.norms.grouped.Plan` of a ``torch.nn.functional.batch_norm`` call:
    one group per channel, the standard deviation as the scale; in eval mode the running
    statistics, :math:`t = \\sqrt{\\mathrm{running\\_var} + \\varepsilon}`."""
    a = parse_args(x, **kwargs)
    fixed = None
    if not a.training:
        fixed = (a.per_channel(a.running_mean), torch.sqrt(a.per_channel(a.running_var) + a.eps))
    return grouped.Plan(
        layer="batchnorm",
        view=lambda t: t,
        unview=lambda t: t,
        dims=a.dims,
        m=a.m,
        gamma=a.per_channel(a.weight),
        beta=a.per_channel(a.bias),
        eps=a.eps,
        center=True,
        kind="std",
        fixed=fixed,
    )


def plan_of(layer: str, x: Tensor, kwargs: dict[str, Any]) -> grouped.Plan:
    """The plan of a call of the registered ``layer`` with keyword arguments ``kwargs``."""
    if layer == "batchnorm":
        return batchnorm_plan(x, kwargs)
    impl = get_layer(layer)
    if not isinstance(impl, grouped.GroupNormalization):
        raise InvalidArgumentError(
            f"affine blocks: layer {layer!r} is not a group-wise layer with a plan"
        )
    return impl.plan(x, **kwargs)


@dataclass(frozen=True)
class Call:
    """One call of a layer, ready for the block formulas: its plan, the input, and for each
    parameter its shape and the gather index :math:`k(i)` in the view's layout."""

    plan: grouped.Plan
    x: Tensor
    shapes: dict[str, tuple[int, ...]]
    index: dict[str, Tensor]

    def gather(self, name: str, p: Tensor) -> Tensor:
        """A parameter-shaped ``p`` as the view-layout tensor the layer multiplies (adds)."""
        return p.reshape(-1)[self.index[name]]

    def reduce(self, name: str, u: Tensor) -> Tensor:
        """:math:`R u`: the view-layout ``u`` summed over the entries sharing a parameter."""
        out = torch.zeros(
            int(torch.Size(self.shapes[name]).numel()), dtype=u.dtype, device=u.device
        )
        u = u.expand_as(self.index[name])
        return out.index_add_(0, self.index[name].reshape(-1), u.reshape(-1)).reshape(
            self.shapes[name]
        )

    @property
    def bare(self) -> grouped.Plan:
        """The plan without its affine map (:math:`\\gamma = 1`, :math:`\\beta = 0`)."""
        return dataclasses.replace(self.plan, gamma=None, beta=None)

    def n(self) -> Tensor:
        """:math:`n = c/t` in the view's layout."""
        vx = self.plan.view(self.x)
        if self.plan.fixed is not None:
            mu, t = self.plan.fixed
            return (vx - mu) / t
        st = grouped.batch_stats(vx, self.plan)
        return st.c / st.t


def call(layer: str, x: Tensor, kwargs: dict[str, Any]) -> Call:
    """A :class:`Call` of ``layer`` at ``x`` with ``kwargs`` (``weight``/``bias`` among them).

    The gather index comes from the layer's own plan: the call is planned once more with each
    parameter replaced by ``0, 1, 2, ...`` (exact in float64), and the view-layout tensor the
    plan makes of it is the index."""
    plan = plan_of(layer, x, kwargs)
    shapes, index = {}, {}
    vx = plan.view(x)
    probe_x = x.detach().to(torch.float64)
    for name, attr in (("weight", "gamma"), ("bias", "beta")):
        p = kwargs.get(name)
        if p is None:
            continue
        numbered = dict(kwargs)
        for key, val in kwargs.items():  # the probe call in float64 throughout
            if isinstance(val, Tensor) and val.is_floating_point():
                numbered[key] = val.detach().to(torch.float64)
        numbered[name] = torch.arange(p.numel(), dtype=torch.float64, device=x.device).reshape(
            p.shape
        )
        ids = getattr(plan_of(layer, probe_x, numbered), attr)
        shapes[name] = tuple(p.shape)
        index[name] = ids.expand(vx.shape).round().long()
    return Call(plan=plan, x=x, shapes=shapes, index=index)


# --------------------------------------------------------------- the blocks
def gradient(c: Call, g: Tensor) -> Blocks:
    r""":math:`\nabla_{(x, W, B)}\langle g, z\rangle`: :math:`J_n^\top(\gamma\odot g)`,
    :math:`R_W(g\odot n)`, :math:`R_B g`."""
    gv = c.plan.view(g)
    return Blocks(
        x=grouped.plan_vjp(c.plan, c.x, g),
        weight=c.reduce("weight", gv * c.n()) if "weight" in c.index else None,
        bias=c.reduce("bias", gv) if "bias" in c.index else None,
    )


def jvp(c: Call, tangent: Blocks) -> Tensor:
    r""":math:`\dot z = \gamma\odot J_n v + \dot\gamma\odot n + \dot\beta`."""
    out = c.plan.view(grouped.plan_jvp(c.plan, c.x, tangent.x))
    if tangent.weight is not None and "weight" in c.index:
        out = out + c.gather("weight", tangent.weight) * c.n()
    if tangent.bias is not None and "bias" in c.index:
        out = out + c.gather("bias", tangent.bias)
    return c.plan.unview(out)


def hvp(c: Call, g: Tensor, tangent: Blocks) -> Blocks:
    r"""The Hessian of :math:`\langle g, z\rangle` in ``(x, W, B)`` times ``tangent``:
    :math:`\nabla^2_x L\,v + J_n^\top(\dot\gamma\odot g)`, :math:`R_W(g\odot J_n v)`, 0."""
    hx = grouped.plan_hvp(c.plan, c.x, g, tangent.x)
    gv = c.plan.view(g)
    if tangent.weight is not None and "weight" in c.index:
        hx = hx + grouped.plan_vjp(
            c.bare, c.x, c.plan.unview(c.gather("weight", tangent.weight) * gv)
        )
    weight = bias = None
    if "weight" in c.index:
        jn = c.plan.view(grouped.plan_jvp(c.bare, c.x, tangent.x))
        weight = c.reduce("weight", gv * jn)
    if "bias" in c.index:
        bias = torch.zeros(c.shapes["bias"], dtype=c.x.dtype, device=c.x.device)
    return Blocks(x=hx, weight=weight, bias=bias)


# -------------------------------------------------------- the error model's inputs
def condition(c: Call, dtype: torch.dtype | None = None) -> float:
    r"""The largest condition estimate :math:`\kappa` over the call's groups (1 where the
    layer does not center or uses fixed statistics), capped at :math:`1/u` of ``dtype``
    (default: the call's), the dtype the compared route computes in."""
    if not c.plan.center or c.plan.fixed is not None:
        return 1.0
    return float(rows_condition(c.plan.rows(c.x), dtype or c.x.dtype).max())


def sum_length(c: Call) -> int:
    """The longest sum of either route: a group's ``m`` values, or the entries one parameter
    gathers (the batch and spatial positions of a channel)."""
    counts = [c.plan.m] + [int(torch.bincount(i.reshape(-1)).max()) for i in c.index.values()]
    return max(counts)


def norm(t: Tensor) -> Tensor:
    """The Euclidean norm of a tensor, scaled first (no overflow for entries up to the
    largest float)."""
    return group_norm(t.reshape(1, -1))[0]


def scales(op: str, c: Call, g: Tensor, tangent: Blocks | None) -> Blocks:
    r"""Per block, the summed magnitudes of the terms its formula adds (the scale :math:`S` of
    the error model, :mod:`bntheory.verify.errormodel`).

    The ``x`` blocks take the layer's term scales (:func:`grouped.plan_term_scale`, normed
    over the groups) plus those of the added mixed term; a reduced block :math:`R_W(a\odot b)`
    takes :math:`\|R_W(|a|\odot(|b| + \bar b))\|`, where :math:`\bar b` is the group's term
    scale of :math:`b` broadcast to its entries (a bound on each entry's rounding error).
    The exact zeros count the terms a route cancels to reach them: the HVP's ``x`` block
    counts :math:`J_n^\top(V_B\odot g)`'s terms (:math:`H_{xB} = 0`), its weight block
    :math:`\big(\|R_W(|g|\odot|V_W|\odot(|n| + \bar n))\| + \|R_W(|g|\odot|V_B|)\|\big)
    /\max|\gamma|` (:math:`H_{WW} = H_{WB} = 0`: the gradient's terms per unit of weight,
    in the block's units)."""
    plan, x = c.plan, c.x
    vx = plan.view(x)
    spread = lambda s: _spread(plan, vx, s)
    gv = plan.view(g).abs()
    n = c.n()
    n_scale = spread(grouped.plan_term_scale(c.bare, "forward", x, None, None))
    if op == "gradient":
        return Blocks(
            x=norm(grouped.plan_term_scale(plan, "vjp", x, g, None)),
            weight=norm(c.reduce("weight", gv * (n.abs() + n_scale)))
            if "weight" in c.index
            else None,
            bias=norm(c.reduce("bias", gv)) if "bias" in c.index else None,
        )
    if tangent is None:
        raise InvalidArgumentError(f"affine scales: op {op!r} needs a tangent")
    dg = (
        c.gather("weight", tangent.weight).abs()
        if tangent.weight is not None and "weight" in c.index
        else None
    )
    if op == "jvp":
        s = norm(grouped.plan_term_scale(plan, "jvp", x, None, tangent.x))
        if dg is not None:
            s = s + norm(dg * (n.abs() + n_scale))
        if tangent.bias is not None and "bias" in c.index:
            s = s + norm(c.gather("bias", tangent.bias))
        return Blocks(x=s)
    if op != "hvp":
        raise InvalidArgumentError(f"affine scales: op must be gradient, jvp or hvp, got {op!r}")
    sx = norm(grouped.plan_term_scale(plan, "hvp", x, g, tangent.x))
    if dg is not None:
        sx = sx + norm(
            grouped.plan_term_scale(c.bare, "vjp", x, plan.unview(dg * plan.view(g)), None)
        )
    if tangent.bias is not None and "bias" in c.index:
        # H_xB = 0 exactly, but a route may reach it by cancelling terms of the size of
        # J_n^T(V_B g): the HVP of a bias-only tangent is zero in every block
        db = c.gather("bias", tangent.bias).abs()
        sx = sx + norm(
            grouped.plan_term_scale(c.bare, "vjp", x, plan.unview(db * plan.view(g)), None)
        )
    weight = bias = None
    if "weight" in c.index:
        jn = plan.view(grouped.plan_jvp(c.bare, x, tangent.x)).abs()
        jn_scale = spread(grouped.plan_term_scale(c.bare, "jvp", x, None, tangent.x))
        weight = norm(c.reduce("weight", gv * (jn + jn_scale)))
        # H_WW = H_WB = 0 exactly; a route reaches them by cancelling terms of the size of
        # R_W(g * V_W * n) and R_W(g * V_B), per unit of weight (the block's units)
        gam = 1.0 if plan.gamma is None else float(plan.gamma.abs().max())
        gam = gam if gam > 0 else 1.0
        if dg is not None:
            weight = weight + norm(c.reduce("weight", gv * dg * (n.abs() + n_scale))) / gam
        if tangent.bias is not None and "bias" in c.index:
            weight = (
                weight + norm(c.reduce("weight", gv * c.gather("bias", tangent.bias).abs())) / gam
            )
    if "bias" in c.index:
        bias = torch.zeros((), dtype=x.dtype, device=x.device)
    return Blocks(x=sx, weight=weight, bias=bias)


def _spread(plan: grouped.Plan, vx: Tensor, s: Tensor) -> Tensor:
    """A per-group ``(G,)`` value in the view's layout, every entry holding its group's."""
    shape = plan.view_rows(vx).shape
    rows = s.reshape(-1, 1).expand(shape)
    # view_rows permutes to (kept axes..., group axes...) and flattens: undo both
    keep = [d for d in range(vx.dim()) if d not in plan.dims]
    perm = keep + list(plan.dims)
    permuted_shape = [vx.shape[d] for d in perm]
    out = rows.reshape(permuted_shape)
    inverse = [perm.index(d) for d in range(vx.dim())]
    return out.permute(*inverse)
