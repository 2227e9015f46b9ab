r"""BatchNorm (Ioffe & Szegedy 2015), the first subject of the suite.

In the notation of docs/architecture.md: one channel of a batch holds
:math:`m = N\cdot\prod(\text{spatial})` values :math:`y\in\mathbb{R}^m`.  In training mode

.. math::
    \mu = \tfrac1m\langle \mathbf 1, y\rangle,\quad
    \mathrm{var} = \tfrac1m\|y-\mu\mathbf 1\|^2,\quad
    \sigma = \sqrt{\mathrm{var}+\varepsilon},\quad
    \hat y = (y-\mu\mathbf 1)/\sigma,\quad z = \gamma\hat y + \beta .

Closed forms (derived in the docstrings below; exact for every :math:`\varepsilon\ge 0`,
because :math:`\partial\sigma/\partial y_k = (y_k-\mu)/(m\sigma) = \hat y_k/m` whatever
:math:`\varepsilon` is).  Write :math:`\bar v = \tfrac1m\langle\mathbf 1, v\rangle` and
:math:`P = I - \tfrac1m\mathbf 1\mathbf 1^\top`.

.. math::
    J = \frac{\partial z}{\partial y}
      = \frac{\gamma}{\sigma}\Big(P - \tfrac1m\hat y\hat y^\top\Big)
    \quad(\text{symmetric}).

In eval mode the map is affine,
:math:`z = \gamma (y-\mu_{run})/\sqrt{\mathrm{var}_{run}+\varepsilon}+\beta`, so
:math:`J = \mathrm{diag}(\gamma/\sqrt{\mathrm{var}_{run}+\varepsilon})` and the curvature term
is zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bntheory.errors import (
    BatchTooSmallError,
    InvalidArgumentError,
    NonFiniteInputError,
    ZeroVarianceError,
)
from bntheory.norms import fused, grouped, validate
from bntheory.norms.base import Normalization, condition_estimate, group_norm

#: Where BatchNorm's argument checks name the layer (messages of the other checks name none).
_WHERE = "batchnorm"


@dataclass(frozen=True)
class BatchNormArgs:
    """Validated arguments, with per-channel tensors reshaped to broadcast against ``x``."""

    running_mean: Tensor | None
    running_var: Tensor | None
    weight: Tensor | None
    bias: Tensor | None
    training: bool
    momentum: float
    eps: float
    dims: tuple[int, ...]  # reduction axes: batch and spatial
    bshape: tuple[int, ...]  # (1, C, 1, ..., 1)
    m: int  # values per channel
    input_checked: bool = True  # False: the input's finiteness check is left to the caller

    def check_input_finite(self, x: Tensor) -> None:
        """The input's finiteness check, when :func:`parse_args` left it to the caller."""
        if not self.input_checked:
            validate.check_finite(None, "input", x)

    def per_channel(self, t: Tensor | None) -> Tensor | None:
        """A per-channel ``(C,)`` tensor (or None) shaped ``(1, C, 1, ..., 1)``."""
        return None if t is None else t.reshape(self.bshape)

    def gamma(self, x: Tensor) -> Tensor:
        r""":math:`\gamma` shaped ``(1, C, 1, ..., 1)``: the weight, or ones without one."""
        if self.weight is None:
            return torch.ones(self.bshape, dtype=x.dtype, device=x.device)
        return self.weight.reshape(self.bshape)


def _differentiated(*tensors: Any) -> bool:
    """Whether autograd or forward-mode AD is tracking any of ``tensors``: the closed forms
    then take their out-of-place route, which autograd and ``torch.func`` can differentiate."""
    grad_on = torch.is_grad_enabled()
    # A tangent exists only inside a dual level (torch.func.jvp enters one as well), and
    # unpack_dual itself answers "none" outside one: ask it only inside (this check runs on
    # every closed-form call, right after a pass that has flushed the caches).
    dual = getattr(torch.autograd.forward_ad, "_current_level", 0) >= 0
    return any(
        isinstance(t, Tensor)
        and (
            (grad_on and t.requires_grad)
            or (dual and torch.autograd.forward_ad.unpack_dual(t).tangent is not None)
        )
        for t in tensors
    )


def _centered_with_blocks(x: Tensor, dims: tuple[int, ...], m: int, k: int):
    """``y - mu`` (the fast routes' one full-size buffer), the block length in samples (about
    64K values per block on the CPU, so ``k`` scratch blocks stay in cache; one block on a
    GPU), the scratch ``(k, rows, ...)`` and the reduction axes of a scratch block."""
    out = x - x.sum(dims, keepdim=True).div_(m)
    n = x.shape[0]
    rows = max(1, (1 << 16) // (x.numel() // n)) if x.device.type == "cpu" else n
    tmp = x.new_empty((k, min(rows, n)) + tuple(x.shape[1:]))
    return out, rows, tmp, tuple(d + 1 for d in dims)


def _signature(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
):
    """The parameter list of ``torch.nn.functional.batch_norm``, for :func:`validate.bind`."""
    return {
        "input": input,
        "running_mean": running_mean,
        "running_var": running_var,
        "weight": weight,
        "bias": bias,
        "training": training,
        "momentum": momentum,
        "eps": eps,
    }


def parse_args(x: Tensor, *args: Any, **kwargs: Any) -> BatchNormArgs:
    """Bind and validate the arguments of ``torch.nn.functional.batch_norm`` after ``x``."""
    return _parse(x, args, kwargs, defer_finite=False)


def _parse(x: Tensor, args: tuple, kwargs: dict, *, defer_finite: bool) -> BatchNormArgs:
    """:func:`parse_args`; with ``defer_finite`` the input's finiteness check (one pass over
    it) is left to the caller, who calls ``p.check_input_finite(x)`` unless its own route
    detects a non-finite input on the way (the fused kernels do).  With ``eps = 0`` it is
    never deferred: the check comes before that of constant channels."""
    bound = validate.bind(_WHERE, _signature, x, args, kwargs)
    validate.check_input(None, x, 2, "(N, C, *)", finite=not defer_finite)
    channels = x.shape[1]
    dims = (0,) + tuple(range(2, x.dim()))
    m = x.numel() // channels if channels else 0
    bshape = (1, channels) + (1,) * (x.dim() - 2)
    eps = validate.check_eps(None, bound["eps"])
    validate.check_momentum(None, bound["momentum"])
    training = bool(bound["training"])
    checked = not defer_finite
    if not checked and eps == 0:
        validate.check_finite(None, "input", x)
        checked = True
    for key in ("running_mean", "running_var", "weight", "bias"):
        validate.check_param(None, key, bound[key], (channels,), x, "one per channel")
    validate.check_running_pair(None, bound["running_mean"], bound["running_var"])
    if training:
        _check_batch(x, eps, m, channels)
    else:
        validate.check_eval_stats(
            None, bound["running_mean"], bound["running_var"], eps, "training=False"
        )
    return BatchNormArgs(
        running_mean=bound["running_mean"],
        running_var=bound["running_var"],
        weight=bound["weight"],
        bias=bound["bias"],
        training=training,
        momentum=float(bound["momentum"]),
        eps=eps,
        dims=dims,
        bshape=bshape,
        m=m,
        input_checked=checked,
    )


def _check_batch(x: Tensor, eps: float, m: int, channels: int) -> None:
    """Training mode needs two values per channel, and no constant channel with ``eps = 0``."""
    if m < 2:
        raise BatchTooSmallError(
            f"training mode needs more than 1 value per channel, got input of shape "
            f"{tuple(x.shape)} ({m} value per channel); use a batch of N >= 2 or eval mode"
        )
    if eps == 0:
        flat = x.detach().transpose(0, 1).reshape(channels, -1)
        const = flat.amax(dim=1) == flat.amin(dim=1)
        if const.any():
            c = int(const.nonzero()[0])
            raise ZeroVarianceError(
                f"channel {c} of input is constant ({flat[c, 0].item()}) so its variance is 0, "
                "and eps=0: the normalization divides by zero; use eps > 0"
            )


class BatchNorm(Normalization):
    """Batch normalization over the batch and spatial axes, one group per channel."""

    name = "batchnorm"
    title = "BatchNorm"
    torch_counterpart = staticmethod(F.batch_norm)

    # ---------------------------------------------------------------- statistics
    @staticmethod
    def _stats(x: Tensor, p: BatchNormArgs) -> tuple[Tensor, Tensor, Tensor]:
        """``(mu, sigma, var)`` broadcastable against ``x``: batch stats or running stats."""
        if p.training:
            # Two passes (mean, then the mean of squared deviations): torch.var_mean's
            # one-pass update returns 0 for two adjacent floats, a non-constant batch.
            mu = x.mean(dim=p.dims, keepdim=True)
            centered = x - mu
            var = (centered * centered).mean(dim=p.dims, keepdim=True)
        else:
            mu, var = p.per_channel(p.running_mean), p.per_channel(p.running_var)
        sigma = torch.sqrt(var + p.eps)
        if p.training and not bool(torch.isfinite(var).all()):
            c = int((~torch.isfinite(var)).reshape(-1).nonzero()[0])
            raise NonFiniteInputError(
                f"the variance of channel {c} overflows float64 (input values up to "
                f"{float(x.detach().transpose(0, 1)[c].abs().max()):.3g}); rescale the input"
            )
        if p.training and p.eps == 0 and not bool((sigma > 0).all()):
            raise ZeroVarianceError(
                "the computed variance of a channel underflows to 0 with eps=0: "
                "the normalization divides by zero; rescale the input or use eps > 0"
            )
        return mu, sigma, var

    def _sigma(self, x: Tensor, p: BatchNormArgs, var: Tensor) -> Tensor:
        """``sqrt(var + eps)`` from a fast route's variance, with the checks of :meth:`_stats`."""
        sigma = torch.sqrt(var + p.eps)
        if not bool(torch.isfinite(sigma).all()) or (p.eps == 0 and not bool((sigma > 0).all())):
            _, sigma, _ = self._stats(x, p)  # raises the error that names the channel, if any
            sigma = sigma.reshape(var.shape)
        return sigma

    # ------------------------------------------------------------------- forward
    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r"""``torch.nn.functional.batch_norm`` with the same arguments, ``eps = 0`` allowed.

        .. math:: z = \gamma\,\frac{y-\mu}{\sqrt{\mathrm{var}+\varepsilon}} + \beta

        In training mode the running statistics, when given, are updated in place as torch
        does: ``running_mean <- (1-momentum) running_mean + momentum mu`` and
        ``running_var <- (1-momentum) running_var + momentum var m/(m-1)``.
        """
        p = parse_args(x, *args, **kwargs)
        out = self._apply(x, p)
        if p.training and p.running_mean is not None:
            with torch.no_grad():
                var, mu = torch.var_mean(x, dim=p.dims, correction=1)
                p.running_mean.mul_(1 - p.momentum).add_(mu, alpha=p.momentum)
                p.running_var.mul_(1 - p.momentum).add_(var, alpha=p.momentum)
        return out

    def stateless_forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """The forward map without the running-statistics update."""
        return self._apply(x, parse_args(x, *args, **kwargs))

    def _apply(self, x: Tensor, p: BatchNormArgs) -> Tensor:
        mu, sigma, _ = self._stats(x, p)
        out = (x - mu) / sigma * p.gamma(x)
        if p.bias is not None:
            out = out + p.per_channel(p.bias)
        return out

    def symbolic(self, y: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        r"""Training-mode BatchNorm of one channel :math:`y_0,\dots,y_{m-1}` in SymPy.

        ``params``: ``gamma``, ``beta``, ``eps`` (each optional: 1, 0, 0).
        """
        import sympy

        m = len(y)
        gamma = params.get("gamma", sympy.Integer(1))
        beta = params.get("beta", sympy.Integer(0))
        eps = params.get("eps", sympy.Integer(0))
        mu = sympy.Add(*y) / m
        var = sympy.Add(*[(yi - mu) ** 2 for yi in y]) / m
        sigma = sympy.sqrt(var + eps)
        return [gamma * (yi - mu) / sigma + beta for yi in y]

    # -------------------------------------------------------------- closed forms
    def jvp(self, x: Tensor, v: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r"""Closed-form :math:`Jv`.

        Training mode, per channel:

        .. math::
            Jv = \frac{\gamma}{\sigma}\Big(v - \bar v\,\mathbf 1 - \hat y\,\overline{\hat y v}\Big),
            \qquad \overline{\hat y v} = \tfrac1m\langle\hat y, v\rangle .

        Derivation: :math:`\hat y = P y/\sigma`,
        :math:`\partial\sigma/\partial y = \hat y/m`, so
        :math:`\partial\hat y/\partial y = (P - \hat y\hat y^\top/m)/\sigma`.
        Eval mode: :math:`Jv = \gamma v/\sqrt{\mathrm{var}_{run}+\varepsilon}`.
        """
        return self._apply_jacobian(x, "v", v, _parse(x, args, kwargs, defer_finite=True))

    def vjp(self, x: Tensor, g: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r"""Closed-form :math:`J^\top g` (the backward pass).

        :math:`J` is symmetric, so per channel

        .. math::
            J^\top g = \frac{\gamma}{\sigma}
              \Big(g - \bar g\,\mathbf 1 - \hat y\,\overline{\hat y g}\Big).

        Eval mode: :math:`J^\top g = \gamma g/\sqrt{\mathrm{var}_{run}+\varepsilon}`.
        """
        return self._apply_jacobian(x, "g", g, _parse(x, args, kwargs, defer_finite=True))

    def _apply_jacobian(self, x: Tensor, name: str, w: Tensor, p: BatchNormArgs) -> Tensor:
        """``J w`` (= ``J^T w``: J is symmetric); ``w`` (called ``name``) not yet checked, the
        input's finiteness possibly deferred (see :func:`_parse`)."""
        validate.check_like(None, name, w, x, finite=False)
        if p.training and not _differentiated(x, w, p.weight) and fused.usable(x, w):
            # One call of the Numba kernels in bntheory.norms.fused: statistics (which also
            # find a non-finite x or w, as a non-finite mean), coefficients, result.
            out, status = fused.jacobian(x, w, p.weight, p.eps)
            if status == fused.OK:
                return out
            # A non-finite entry, an overflow or a zero variance: the checks below and the
            # torch route name it (or compute what the kernel declined to).
        p.check_input_finite(x)
        validate.check_finite(None, name, w)
        if _differentiated(x, w, p.weight) or not p.training:
            # Out of place, so that autograd / torch.func can differentiate through it.
            mu, sigma, _ = self._stats(x, p)
            scale = p.gamma(x) / sigma
            if not p.training:
                return scale * w
            yhat = (x - mu) / sigma
            a = (yhat * w).mean(dim=p.dims, keepdim=True)
            return scale * (w - w.mean(dim=p.dims, keepdim=True) - yhat * a)
        dims, m = p.dims, p.m
        # The same formula in fewer passes over memory, everything centered:
        # J w = scale (w - w_bar) - (scale a / sigma) (y - mu).  The one full-size buffer is
        # the result, which holds y - mu until the per-channel coefficients are known; the
        # products go through small blocks of whole samples (about 64K values) that stay in
        # cache, each block reduced at once.
        w_bar = w.sum(dims, keepdim=True).div_(m)
        out, rows, tmp, tdims = _centered_with_blocks(x, dims, m, 2)
        sums = None
        for o, ws in zip(out.split(rows), w.split(rows)):
            t = tmp if o.shape[0] == tmp.shape[1] else tmp[:, : o.shape[0]]
            t0, t1 = t.unbind(0)
            torch.mul(o, o, out=t0)
            torch.mul(o, ws, out=t1)
            part = t.sum(tdims, keepdim=True)
            sums = part if sums is None else sums.add_(part)
        var, yw = sums.div_(m).unbind(0)  # <y - mu, y - mu>/m, <y - mu, w>/m
        sigma = self._sigma(x, p, var)
        scale = p.gamma(x) / sigma
        a = yw / sigma  # <yhat, w>/m
        coef = -scale * a / sigma
        t0 = tmp[0]
        for o, ws in zip(out.split(rows), w.split(rows)):
            t = t0 if o.shape[0] == t0.shape[0] else t0[: o.shape[0]]
            o.mul_(coef)  # -scale a yhat
            o.addcmul_(torch.sub(ws, w_bar, out=t), scale)
        return out

    def hvp(self, x: Tensor, g: Tensor, v: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r"""Closed-form :math:`\nabla^2_y\langle g, z(y)\rangle\,v`, BatchNorm's own curvature.

        Differentiate :math:`u(y) = J^\top g = \frac{\gamma}{\sigma}(Pg - b\,\hat y)`,
        :math:`b = \tfrac1m\langle\hat y, g\rangle`, along :math:`v`, with
        :math:`a = \tfrac1m\langle\hat y, v\rangle`, :math:`\mathrm d\sigma = a`,
        :math:`\mathrm d\hat y = (Pv - a\hat y)/\sigma` and
        :math:`\mathrm db = (\tfrac1m\langle Pv, Pg\rangle - ab)/\sigma`:

        .. math::
            \nabla^2_y\langle g, z\rangle\,v = \frac{\gamma}{\sigma^2}\Big(
              \big(3ab - c_{gv}\big)\hat y - a\,(g-\bar g\mathbf 1) - b\,(v - \bar v\mathbf 1)\Big),
            \qquad c_{gv} = \tfrac1m\langle g-\bar g\mathbf 1,\ v-\bar v\mathbf 1\rangle .

        Symmetric in :math:`g` and :math:`v`, as a Hessian must be.  Eval mode: zero.
        """
        p = _parse(x, args, kwargs, defer_finite=True)
        validate.check_like(None, "g", g, x, finite=False)
        validate.check_like(None, "v", v, x, finite=False)
        tracked = _differentiated(x, g, v, p.weight)
        if p.training and not tracked and fused.usable(x, g, v):
            # One call of the Numba kernels in bntheory.norms.fused: statistics (which also
            # find a non-finite x, g or v, as a non-finite mean), coefficients, result.
            out, status = fused.hvp(x, g, v, p.weight, p.eps)
            if status == fused.OK:
                return out
            # A non-finite entry, an overflow or a zero variance: the checks below and the
            # torch route name it (or compute what the kernel declined to).
        p.check_input_finite(x)
        if tracked or not p.training:
            validate.check_finite(None, "g", g)
            validate.check_finite(None, "v", v)
            if not p.training:
                return torch.zeros_like(x)
            # Out of place, so that autograd / torch.func can differentiate through it.
            mu, sigma, _ = self._stats(x, p)
            dims = p.dims
            yhat = (x - mu) / sigma
            a = (yhat * v).mean(dim=dims, keepdim=True)
            b = (yhat * g).mean(dim=dims, keepdim=True)
            g_bar = g.mean(dim=dims, keepdim=True)
            v_c = v - v.mean(dim=dims, keepdim=True)
            c_gv = (g * v_c).mean(dim=dims, keepdim=True)  # = <Pg, Pv>/m since <1, v_c> = 0
            k = p.gamma(x) / (sigma * sigma)
            return k * ((3 * a * b - c_gv) * yhat - a * (g - g_bar) - b * v_c)
        # The same formula in fewer passes over memory, everything centered:
        # k [(3ab - c_gv)/sigma (y - mu) - a (g - g_bar) - b (v - v_bar)].  The one full-size
        # buffer is the result, which holds y - mu until the per-channel coefficients are
        # known; the products go through small blocks of whole samples (about 64K values)
        # that stay in cache, each block reduced at once.
        dims, m = p.dims, p.m
        g_bar = g.sum(dims, keepdim=True)
        v_bar = v.sum(dims, keepdim=True)
        if not math.isfinite(float((g_bar + v_bar).sum())):
            # A sum is finite when all its terms are: this is the finiteness check of g and
            # v, without two passes of their own.  Here one is not (or a sum overflowed).
            validate.check_finite(None, "g", g)
            validate.check_finite(None, "v", v)
        g_bar.div_(m)
        v_bar.div_(m)
        out, rows, tmp, tdims = _centered_with_blocks(x, dims, m, 4)
        sums = None
        for o, gs, vs in zip(out.split(rows), g.split(rows), v.split(rows)):
            t = tmp if o.shape[0] == tmp.shape[1] else tmp[:, : o.shape[0]]
            t0, t1, t2, t3 = t.unbind(0)
            torch.mul(o, o, out=t0)
            torch.mul(o, vs, out=t1)
            torch.mul(o, gs, out=t2)
            torch.sub(vs, v_bar, out=t3).mul_(gs)
            part = t.sum(tdims, keepdim=True)
            sums = part if sums is None else sums.add_(part)
        # <y - mu, y - mu>/m, <y - mu, v>/m, <y - mu, g>/m, <g, v - v_bar>/m = c_gv
        var, yv, yg, c_gv = sums.div_(m).unbind(0)
        sigma = self._sigma(x, p, var)
        a, b = yv / sigma, yg / sigma  # <yhat, v>/m, <yhat, g>/m
        k = p.gamma(x) / (sigma * sigma)
        coef, ka, kb = k * (3 * a * b - c_gv) / sigma, -k * a, -k * b
        t0 = tmp[0]
        for o, gs, vs in zip(out.split(rows), g.split(rows), v.split(rows)):
            t = t0 if o.shape[0] == t0.shape[0] else t0[: o.shape[0]]
            o.mul_(coef)  # (3ab - c_gv) k yhat
            o.addcmul_(torch.sub(gs, g_bar, out=t), ka)
            o.addcmul_(torch.sub(vs, v_bar, out=t), kb)
        return out

    # --------------------------------------------------------- example arguments
    def example_kwargs(self, shape, *, eps, training, weight_kind, rng, device="cpu"):
        """Per-channel ``weight`` and ``bias``; eval mode with random running statistics."""
        kw = {
            **grouped.affine_example((shape[1],), weight_kind, rng, device),
            "training": training,
            "eps": eps,
        }
        if not training:
            kw |= grouped.running_example(shape[1], rng, device)
        return kw

    def symbolic_input(self, y, gamma, beta, eps):
        """``y`` as the one channel of an ``(m, 1)`` batch."""
        t = lambda a: torch.tensor([float(a)], dtype=y.dtype, device=y.device)
        return y.reshape(-1, 1), {"weight": t(gamma), "bias": t(beta), "training": True, "eps": eps}

    # ---------------------------------------------------------- error-model hooks
    def groups(self, t: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """``(N, C, *)`` -> ``(C, m)``: one row per channel."""
        return t.transpose(0, 1).reshape(t.shape[1], -1)

    def condition(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r"""Per channel, :func:`~bntheory.norms.base.condition_estimate` of its values:
        :math:`\kappa = \min\big(\max(1, \max_i |y_i| / \sqrt{\mathrm{var}}),\ 1/u\big)`.

        Centering :math:`y - \mu` makes an absolute error :math:`\approx u\max|y|`; every
        quantity built from :math:`\hat y` (whose size is :math:`\sqrt{\mathrm{var}}/\sigma`)
        inherits the relative error :math:`u\kappa`.  Note the divisor is the batch's own
        spread, not :math:`\sigma`: with :math:`\varepsilon\gg\mathrm{var}` the output is
        small and carries the same absolute error.  Capped at :math:`1/u` (no correct
        digit) for a constant channel.  In eval mode the map is affine, :math:`\kappa = 1`, and
        :meth:`term_scale` counts :math:`|y|` and :math:`|\mu_{run}|` instead.
        """
        p = parse_args(x, *args, **kwargs)
        if not p.training:  # an affine map: its term scale already carries |y| and |mu_run|
            return torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
        _, _, var = self._stats(x, p)
        big = self.groups(x.abs()).amax(dim=1)
        return condition_estimate(big, torch.sqrt(var).reshape(-1), x.dtype)

    def term_scale(
        self, op: str, x: Tensor, g: Tensor | None, v: Tensor | None, *args: Any, **kwargs: Any
    ) -> Tensor:
        r"""Per channel, the summed norms of the terms each formula adds.

        An inner product :math:`\tfrac1m\langle p, q\rangle` counts with its condition scale
        :math:`\|p\|\|q\|/m`, not its value: that is how large its rounding error can be.
        With :math:`A = \|\hat y\|\|v\|/m`, :math:`B = \|\hat y\|\|g\|/m`,
        :math:`C = \|Pg\|\|Pv\|/m`:

        forward: :math:`|\gamma|\|\hat y\| + |\beta|\sqrt m` (eval mode:
        :math:`|\gamma|(\|y\| + |\mu_{run}|\sqrt m)/\sigma + |\beta|\sqrt m`);
        jvp/vjp: :math:`\frac{|\gamma|}{\sigma}\|w\|` (each of :math:`w`, :math:`\bar w\mathbf 1`,
        :math:`\hat y\,\overline{\hat y w}` has norm at most :math:`\|w\|`);
        hvp: :math:`\frac{|\gamma|}{\sigma^2}\big((3AB + C)\|\hat y\| + A\|Pg\| + B\|Pv\|\big)`,
        at most :math:`6|\gamma|\|g\|\|v\|/(\sigma^2\sqrt m)`.
        Eval mode: the affine map's terms, and 0 for the (zero) curvature.
        """
        p = parse_args(x, *args, **kwargs)
        mu, sigma, _ = self._stats(x, p)
        gamma = p.gamma(x).reshape(-1).abs()
        sig = sigma.reshape(-1)
        norm = lambda t: group_norm(self.groups(t))
        if op == "forward":
            beta = p.bias.abs() if p.bias is not None else torch.zeros_like(gamma)
            if (
                not p.training
            ):  # terms gamma y / sigma and gamma mu_run / sigma, as torch folds them
                return gamma * (
                    norm(x) + p.running_mean.abs() * math.sqrt(p.m)
                ) / sig + beta * math.sqrt(p.m)
            return gamma * norm((x - mu) / sigma) + beta * math.sqrt(p.m)
        if op in ("jvp", "vjp"):
            return gamma / sig * norm(v if op == "jvp" else g)
        if op != "hvp":
            raise InvalidArgumentError(f"op must be forward, jvp, vjp or hvp, got {op!r}")
        if not p.training:
            return torch.zeros_like(gamma)
        n_yhat, n_g, n_v = norm((x - mu) / sigma), norm(g), norm(v)
        n_pg = norm(g - g.mean(dim=p.dims, keepdim=True))
        n_pv = norm(v - v.mean(dim=p.dims, keepdim=True))
        big_a, big_b, big_c = n_yhat * n_v / p.m, n_yhat * n_g / p.m, n_pg * n_pv / p.m
        terms = (3 * big_a * big_b + big_c) * n_yhat + big_a * n_pg + big_b * n_pv
        return gamma / (sig * sig) * terms
