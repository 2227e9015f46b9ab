r"""``torch.nn`` modules of the normalizations after each linear/conv layer of the landscape models.

:class:`Norm` takes a name: ``"none"`` (the identity: the standard network) or any registered
layer.  It holds per-channel ``weight`` (gamma), ``bias`` (beta) and running statistics, as
:class:`torch.nn.BatchNorm1d`/``2d`` would, and calls the layer through
:meth:`Normalization.module_forward`, which maps them onto the layer's own arguments
(LayerNorm and RMSNorm over all non-batch axes with the per-channel affine map broadcast,
GroupNorm with ``gcd(C, 8)`` groups (fewer if a group would hold under 4 values), InstanceNorm
over the spatial axes, noisy BatchNorm with the paper's noise drawn from torch's global RNG,
which checkpoints save).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bntheory.errors import UnknownLayerError


def norm_names() -> list[str]:
    """Every name :class:`Norm` accepts: ``none`` and the registered layers."""
    from bntheory.norms import layer_names

    return ["none", *layer_names()]


def check_norm(name: str) -> None:
    """Raise :class:`UnknownLayerError` (listing every known name) unless ``name`` is one."""
    known = norm_names()
    if name not in known:
        raise UnknownLayerError(f"unknown normalization {name!r}; known: {', '.join(known)}")


class Norm(nn.Module):
    """A normalization of ``(N, C, *)`` activations with per-channel parameters."""

    def __init__(self, name: str, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        check_norm(name)
        from bntheory.norms import get_layer

        self.layer = None if name == "none" else get_layer(name)
        self.name, self.eps, self.momentum = name, eps, momentum
        if name != "none":
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))

    def extra_repr(self) -> str:
        """The normalization's name, shown in the module's ``repr``."""
        return self.name

    def forward(self, x: Tensor) -> Tensor:
        r"""The normalized activations :math:`z = \gamma\hat y + \beta` of ``x: (N, C, *)``.

        ``x`` itself for ``"none"``; otherwise the layer's :meth:`module_forward` with the
        per-channel ``weight`` (gamma), ``bias`` (beta), running statistics, ``momentum``,
        ``eps`` and the module's training mode, which it maps onto the layer's own arguments.
        """
        if self.layer is None:
            return x
        return self.layer.module_forward(
            x,
            weight=self.weight,
            bias=self.bias,
            running_mean=self.running_mean,
            running_var=self.running_var,
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )
