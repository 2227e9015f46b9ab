r"""Derivatives of a layer by automatic differentiation (``torch.func``).

These are the reference route: the oracle the closed forms are checked against, and the
fallback a layer without closed forms gets.  For a map :math:`f` and a fixed upstream
gradient :math:`g`,

.. math::
    \mathrm{jvp}(x, v) = J v,\qquad \mathrm{vjp}(x, g) = J^\top g,\qquad
    \mathrm{hvp}(x, g, v) = \nabla^2_x \langle g, f(x)\rangle\, v ,

where the last one is computed forward-over-reverse.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor
from torch.func import grad, jvp, vjp

Map = Callable[[Tensor], Tensor]


def autograd_jvp(f: Map, x: Tensor, v: Tensor) -> Tensor:
    """:math:`J v` by forward-mode AD."""
    return jvp(f, (x,), (v,))[1]


def autograd_vjp(f: Map, x: Tensor, g: Tensor) -> Tensor:
    r""":math:`J^\top g` by reverse-mode AD."""
    _, pullback = vjp(f, x)
    return pullback(g)[0]


def autograd_hvp(f: Map, x: Tensor, g: Tensor, v: Tensor) -> Tensor:
    r""":math:`\nabla^2_x\langle g, f(x)\rangle\,v`, forward-over-reverse."""

    def inner(t: Tensor) -> Tensor:
        return (g * f(t)).sum()

    return jvp(grad(inner), (x,), (v,))[1]
