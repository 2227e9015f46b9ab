r"""LayerNorm (Ba, Kiros & Hinton 2016): each sample normalized over its trailing axes.

With the arguments of ``torch.nn.functional.layer_norm(input, normalized_shape, weight,
bias, eps)``: one group per leading index, holding the :math:`m = \prod` ``normalized_shape``
trailing values; ``weight`` and ``bias`` have shape ``normalized_shape`` (elementwise, so
:math:`\gamma` varies inside a group).  Closed forms: :mod:`bntheory.norms.grouped`, kind
``"std"``, centered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from bntheory.norms import grouped, validate


def _signature(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """The parameter list of ``torch.nn.functional.layer_norm``, for :func:`validate.bind`."""
    return {
        "input": input,
        "normalized_shape": normalized_shape,
        "weight": weight,
        "bias": bias,
        "eps": eps,
    }


def per_channel_full(t: Tensor, x: Tensor) -> Tensor:
    """A per-channel ``(C,)`` tensor broadcast to the shape ``x.shape[1:]`` (a copy)."""
    return t.reshape((-1,) + (1,) * (x.dim() - 2)).expand(tuple(x.shape[1:])).contiguous()


class LayerNorm(grouped.GroupNormalization):
    """Normalization of each sample over its trailing ``normalized_shape`` axes."""

    name = "layernorm"
    title = "LayerNorm"
    torch_counterpart = staticmethod(F.layer_norm)

    def plan(self, x: Tensor, *args: Any, **kwargs: Any) -> grouped.Plan:
        r"""One group per leading index, its ``normalized_shape`` values as one axis;
        :math:`\gamma`, :math:`\beta` elementwise."""
        b = validate.bind(self.name, _signature, x, args, kwargs)
        validate.check_input(self.name, x, 1, "(*, normalized_shape)")
        ns = validate.normalized_dims(self.name, x, b["normalized_shape"])
        m = math.prod(ns)
        weight = validate.check_param(self.name, "weight", b["weight"], ns, x, "normalized_shape")
        bias = validate.check_param(self.name, "bias", b["bias"], ns, x, "normalized_shape")
        return grouped.Plan(
            layer=self.name,
            view=lambda t: t.reshape(-1, m),
            unview=lambda t: t.reshape(x.shape),
            dims=(1,),
            m=m,
            gamma=None if weight is None else weight.reshape(1, m),
            beta=None if bias is None else bias.reshape(1, m),
            eps=validate.check_eps(self.name, b["eps"]),
            center=True,
            kind="std",
        )

    def module_forward(
        self, x, *, weight, bias, running_mean, running_var, training, momentum, eps
    ):
        """Over all non-batch axes, the per-channel ``weight``/``bias`` broadcast over them."""
        return self.forward(
            x, x.shape[1:], per_channel_full(weight, x), per_channel_full(bias, x), eps
        )

    def symbolic(self, y: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        r"""One sample's :math:`\gamma(y_i-\mu)/\sqrt{\mathrm{var}+\varepsilon}+\beta` (a shared
        :math:`\gamma`, :math:`\beta`; the elementwise ones are a diagonal map after it)."""
        from bntheory.norms.batchnorm import BatchNorm

        return BatchNorm.symbolic(self, y, params)

    def example_kwargs(self, shape, *, eps, training, weight_kind, rng, device="cpu"):
        """``normalized_shape`` the last axis (2-D inputs) or the last two, with elementwise
        ``weight`` and ``bias``; training only."""
        if not training:
            return None  # no eval mode: LayerNorm always uses the sample's own statistics
        ns = tuple(shape[-1:]) if len(shape) < 3 else tuple(shape[-2:])
        return {
            "normalized_shape": ns,
            **grouped.affine_example(ns, weight_kind, rng, device),
            "eps": eps,
        }

    def symbolic_input(self, y, gamma, beta, eps):
        """``y`` as the one sample of a ``(1, m)`` input, ``normalized_shape = (m,)``."""
        import torch

        m = y.numel()
        full = lambda a: torch.full((m,), float(a), dtype=y.dtype, device=y.device)
        return y.reshape(1, m), {
            "normalized_shape": (m,),
            "weight": full(gamma),
            "bias": full(beta),
            "eps": eps,
        }
