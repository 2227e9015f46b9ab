"""The autograd oracle: a layer's derivatives by ``torch.func``, never by its closed forms.

The oracle differentiates the layer's ``stateless_forward``.  Where the layer has a
``torch.nn.functional`` counterpart that accepts the arguments (BatchNorm with ``eps > 0``),
:func:`torch_counterpart_map` also gives torch's own map, so the closed forms can be checked
against torch's derivative kernels, a route that shares no code with this package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from bntheory.norms import Normalization
from bntheory.norms.autodiff import autograd_hvp, autograd_jvp, autograd_vjp

Map = Callable[[Tensor], Tensor]


def layer_map(layer: Normalization, args: tuple, kwargs: dict[str, Any]) -> Map:
    """``x -> layer.stateless_forward(x, *args, **kwargs)``."""
    return lambda t: layer.stateless_forward(t, *args, **kwargs)


def oracle(op: str, f: Map, x: Tensor, g: Tensor | None = None, v: Tensor | None = None) -> Tensor:
    """``op`` in ``{"forward", "jvp", "vjp", "hvp"}`` of the map ``f`` at ``x`` by autograd."""
    if op == "forward":
        return f(x)
    if op == "jvp":
        return autograd_jvp(f, x, v)
    if op == "vjp":
        return autograd_vjp(f, x, g)
    if op == "hvp":
        return autograd_hvp(f, x, g, v)
    raise ValueError(f"unknown operation {op!r}; expected forward, jvp, vjp or hvp")


def closed_form(
    layer: Normalization,
    op: str,
    x: Tensor,
    g: Tensor | None,
    v: Tensor | None,
    args: tuple,
    kwargs: dict[str, Any],
) -> Tensor:
    """The layer's own ``op`` (closed form, or its autograd fallback)."""
    if op == "forward":
        return layer.stateless_forward(x, *args, **kwargs)
    if op == "jvp":
        return layer.jvp(x, v, *args, **kwargs)
    if op == "vjp":
        return layer.vjp(x, g, *args, **kwargs)
    if op == "hvp":
        return layer.hvp(x, g, v, *args, **kwargs)
    raise ValueError(f"unknown operation {op!r}; expected forward, jvp, vjp or hvp")
