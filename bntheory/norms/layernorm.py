r"""LayerNorm (Ba, Kiros & Hinton 2016): each sample normalized over its trailing axes.

With the arguments of ``torch.nn.functional.layer_norm(input, normalized_shape, weight,
bias, eps)``: one group per leading index, holding the :math:`m = \prod` ``normalized_shape``
trailing values; ``weight`` and ``bias`` have shape ``normalized_shape`` (elementwise, so
:math:`\gamma` varies inside a group).  Closed forms: :mod:`bntheory.norms._group`, kind
``"std"``, centered.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Sequence

import torch.nn.functional as F
from torch import Tensor

from bntheory.errors import InvalidArgumentError, ShapeMismatchError
from bntheory.norms import _group


def _signature(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """The parameter list of ``torch.nn.functional.layer_norm``."""


def normalized_dims(where: str, x: Tensor, normalized_shape: Any) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple, checked against the input's trailing axes."""
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    try:
        ns = tuple(int(d) for d in ns)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{where}: normalized_shape must be an int or a sequence of ints, "
                                   f"got {normalized_shape!r}") from None
    if not ns or tuple(x.shape[x.dim() - len(ns):]) != ns or len(ns) > x.dim():
        raise ShapeMismatchError(f"{where}: normalized_shape {ns} must equal the trailing axes of the input, "
                                 f"got input of shape {tuple(x.shape)}")
    return ns


def per_channel_full(t: Tensor, x: Tensor) -> Tensor:
    """A per-channel ``(C,)`` tensor broadcast to the shape ``x.shape[1:]`` (a copy)."""
    return t.reshape((-1,) + (1,) * (x.dim() - 2)).expand(tuple(x.shape[1:])).contiguous()


class LayerNorm(_group.GroupNormalization):
    """Normalization of each sample over its trailing ``normalized_shape`` axes."""

    name = "layernorm"
    title = "LayerNorm"
    torch_counterpart = staticmethod(F.layer_norm)
    SIGNATURE = inspect.signature(_signature)

    def plan(self, x: Tensor, *args: Any, **kwargs: Any) -> _group.Plan:
        b = _group.bind(self.name, self.SIGNATURE, x, args, kwargs)
        _group.check_input(self.name, x, 1, "(*, normalized_shape)")
        ns = normalized_dims(self.name, x, b["normalized_shape"])
        m = math.prod(ns)
        weight = _group.check_param(self.name, "weight", b["weight"], ns, x, "normalized_shape")
        bias = _group.check_param(self.name, "bias", b["bias"], ns, x, "normalized_shape")
        return _group.Plan(
            layer=self.name, view=lambda t: t.reshape(-1, m), unview=lambda t: t.reshape(x.shape), dims=(1,), m=m,
            gamma=None if weight is None else weight.reshape(1, m), beta=None if bias is None else bias.reshape(1, m),
            eps=_group.check_eps(self.name, b["eps"]), center=True, kind="std")

    def module_forward(self, x, *, weight, bias, running_mean, running_var, training, momentum, eps):
        """Over all non-batch axes, the per-channel ``weight``/``bias`` broadcast over them."""
        return self.forward(x, x.shape[1:], per_channel_full(weight, x), per_channel_full(bias, x), eps)

    def symbolic(self, y: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        r"""One sample's :math:`\gamma(y_i-\mu)/\sqrt{\mathrm{var}+\varepsilon}+\beta` (a shared
        :math:`\gamma`, :math:`\beta`; the elementwise ones are a diagonal map after it)."""
        from bntheory.norms.batchnorm import BatchNorm

        return BatchNorm.symbolic(self, y, params)

    def example_kwargs(self, shape, *, eps, training, weight_kind, rng, device="cpu"):
        if not training:
            return None  # no eval mode: LayerNorm always uses the sample's own statistics
        ns = tuple(shape[-1:]) if len(shape) < 3 else tuple(shape[-2:])
        return {"normalized_shape": ns, **_group.affine_example(ns, weight_kind, rng, device), "eps": eps}

    def symbolic_input(self, y, gamma, beta, eps):
        import torch

        m = y.numel()
        full = lambda a: torch.full((m,), float(a), dtype=y.dtype, device=y.device)  # noqa: E731
        return y.reshape(1, m), {"normalized_shape": (m,), "weight": full(gamma), "bias": full(beta), "eps": eps}
