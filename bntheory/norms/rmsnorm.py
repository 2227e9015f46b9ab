r"""RMSNorm (Zhang & Sennrich 2019): each sample divided by its root mean square, no centering.

With the arguments of ``torch.nn.functional.rms_norm(input, normalized_shape, weight, eps)``
(``eps=None`` means ``torch.finfo(input.dtype).eps``, as torch does):

.. math:: z = \gamma\odot y/\sqrt{\overline{y^2}+\varepsilon}.

Closed forms: :mod:`bntheory.norms.grouped`, kind ``"std"`` without centering, so the
Jacobian :math:`\tfrac1t(I - \hat y\hat y^\top/m)` removes only the direction :math:`\hat y`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bntheory.norms import grouped, validate
from bntheory.norms.layernorm import per_channel_full


def _signature(input, normalized_shape, weight=None, eps=None):
    """The parameter list of ``torch.nn.functional.rms_norm``, for :func:`validate.bind`."""
    return {"input": input, "normalized_shape": normalized_shape, "weight": weight, "eps": eps}


class RMSNorm(grouped.GroupNormalization):
    """Division of each sample by its root mean square over ``normalized_shape``."""

    name = "rmsnorm"
    title = "RMSNorm"
    torch_counterpart = staticmethod(F.rms_norm)

    def plan(self, x: Tensor, *args: Any, **kwargs: Any) -> grouped.Plan:
        r"""One group per leading index, its ``normalized_shape`` values as one axis, not
        centered; :math:`\gamma` elementwise, no :math:`\beta`."""
        b = validate.bind(self.name, _signature, x, args, kwargs)
        validate.check_input(self.name, x, 1, "(*, normalized_shape)")
        ns = validate.normalized_dims(self.name, x, b["normalized_shape"])
        m = math.prod(ns)
        weight = validate.check_param(self.name, "weight", b["weight"], ns, x, "normalized_shape")
        eps = (
            torch.finfo(x.dtype).eps
            if b["eps"] is None
            else validate.check_eps(self.name, b["eps"])
        )
        return grouped.Plan(
            layer=self.name,
            view=lambda t: t.reshape(-1, m),
            unview=lambda t: t.reshape(x.shape),
            dims=(1,),
            m=m,
            gamma=None if weight is None else weight.reshape(1, m),
            beta=None,
            eps=eps,
            center=False,
            kind="std",
        )

    def module_forward(
        self, x, *, weight, bias, running_mean, running_var, training, momentum, eps
    ):
        """Over all non-batch axes, the per-channel ``weight`` broadcast; the bias added after
        (RMSNorm has none of its own; the network's per-channel bias stays a parameter)."""
        out = self.forward(x, x.shape[1:], per_channel_full(weight, x), eps)
        return out + bias.reshape((-1,) + (1,) * (x.dim() - 2))

    def symbolic(self, y: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        r""":math:`\gamma y_i/\sqrt{\overline{y^2}+\varepsilon}` (``beta`` is ignored: no bias)."""
        import sympy

        gamma = params.get("gamma", sympy.Integer(1))
        eps = params.get("eps", sympy.Integer(0))
        r = sympy.sqrt(sympy.Add(*[yi**2 for yi in y]) / len(y) + eps)
        return [gamma * yi / r for yi in y]

    def example_kwargs(self, shape, *, eps, training, weight_kind, rng, device="cpu"):
        """``normalized_shape`` the last axis, an elementwise ``weight``; training only."""
        if not training:
            return None
        ns = tuple(shape[-1:])
        return {
            "normalized_shape": ns,
            "weight": grouped.affine_example(ns, weight_kind, rng, device, bias=False)["weight"],
            "eps": eps,
        }

    def symbolic_input(self, y, gamma, beta, eps):
        """``y`` as the one sample of a ``(1, m)`` input; None for ``beta != 0`` (no bias)."""
        if beta != 0:
            return None
        m = y.numel()
        return y.reshape(1, m), {
            "normalized_shape": (m,),
            "eps": eps,
            "weight": torch.full((m,), float(gamma), dtype=y.dtype, device=y.device),
        }
