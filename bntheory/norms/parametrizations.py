r"""Weight parametrizations: normalizations of a layer's weights instead of its activations.

A parametrization is registered by name, like a layer (:mod:`bntheory.norms.registry`), and is
a function ``fn(module, name="weight") -> module`` that reparametrizes ``module.<name>`` in
place (``torch.nn.utils.parametrize``) and returns the module.

``weightnorm`` -- weight normalization (Salimans & Kingma 2016): every output row :math:`i` of
the weight is :math:`w_i = g_i\,v_i/\|v_i\|`, one gain :math:`g_i` per output row (for a
convolution, per output channel: the norm runs over the input channels and the kernel), with
:math:`v` and :math:`g` the trained parameters.  The module route is
``torch.nn.utils.parametrizations.weight_norm(module, name, dim=0)`` (it starts at
:math:`g = \|w\|` row by row and :math:`v = w`, so the reparametrized module computes what it
computed before); :func:`weightnorm_weight` and :func:`weightnorm_forward` are the same map as
plain functions of :math:`v` and :math:`g` (the claims of
``bntheory.claims.catalogue.ba2016_invariance`` call them).  There is no :math:`\varepsilon`:
a zero row of :math:`v` is an error.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import torch
from torch import Tensor, nn

from bntheory.errors import DuplicateLayerError, InvalidArgumentError, ZeroVarianceError

Parametrization = Callable[..., nn.Module]

_PARAMETRIZATIONS: dict[str, Parametrization] = {}


def register_parametrization(
    name: str, fn: Parametrization, *, replace: bool = False
) -> Parametrization:
    """Register ``fn(module, name="weight") -> module`` under ``name`` (lower case).

    Raises :class:`DuplicateLayerError` if the name is taken (unless ``replace=True``) and
    :class:`InvalidArgumentError` for a bad name or a ``fn`` that is not callable.
    """
    if not isinstance(name, str) or not name or name != name.lower() or not name.isalnum():
        raise InvalidArgumentError(
            f"register_parametrization: name must be a non-empty lower-case identifier, "
            f"got {name!r}"
        )
    if not callable(fn):
        raise InvalidArgumentError(
            f"register_parametrization: fn must be callable, got {type(fn).__name__}"
        )
    if name in _PARAMETRIZATIONS and not replace:
        raise DuplicateLayerError(
            f"register_parametrization: a parametrization named {name!r} is already "
            "registered; pass replace=True"
        )
    _PARAMETRIZATIONS[name] = fn
    return fn


def unregister_parametrization(name: str) -> None:
    """Remove a parametrization (used by tests that register temporary ones)."""
    _PARAMETRIZATIONS.pop(name, None)


def parametrizations() -> list[str]:
    """Names of all registered parametrizations, sorted."""
    return sorted(_PARAMETRIZATIONS)


def get_parametrization(name: str) -> Parametrization:
    """The registered parametrization called ``name``.

    Raises :class:`InvalidArgumentError` naming the known ones (and the closest match).
    """
    if isinstance(name, str) and name.strip().lower() in _PARAMETRIZATIONS:
        return _PARAMETRIZATIONS[name.strip().lower()]
    known = parametrizations()
    close = difflib.get_close_matches(str(name).strip().lower(), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise InvalidArgumentError(
        f"unknown parametrization {name!r}; known parametrizations: {', '.join(known)}{hint}"
    )


# ------------------------------------------------------------------ weightnorm
def weightnorm(module: nn.Module, name: str = "weight") -> nn.Module:
    r"""Weight normalization of ``module.<name>`` in place, one gain per output row (``dim=0``):
    ``torch.nn.utils.parametrizations.weight_norm``.  ``g`` is
    ``module.parametrizations.<name>.original0``, ``v`` is ``...original1``."""
    if not isinstance(module, nn.Module) or not isinstance(getattr(module, name, None), Tensor):
        raise InvalidArgumentError(
            f"weightnorm: {type(module).__name__} has no tensor attribute {name!r} to normalize"
        )
    return nn.utils.parametrizations.weight_norm(module, name=name, dim=0)


def weightnorm_weight(v: Tensor, g: Tensor) -> Tensor:
    r""":math:`w_i = g_i\,v_i/\|v_i\|` for every output row :math:`i` (the norm over all other
    axes of ``v``); ``g`` has one entry per row (shape ``(C,)`` or ``v``'s with ones)."""
    if not isinstance(v, Tensor) or not isinstance(g, Tensor) or v.dim() < 1:
        raise InvalidArgumentError("weightnorm: v and g must be tensors, v at least 1-D")
    if g.numel() != v.shape[0]:
        raise InvalidArgumentError(
            f"weightnorm: g must hold one gain per row of v ({v.shape[0]}), got shape "
            f"{tuple(g.shape)}"
        )
    dims = tuple(range(1, v.dim()))
    norm = torch.linalg.vector_norm(v, dim=dims, keepdim=True) if dims else v.abs()
    if not bool((norm > 0).all()):
        row = int((norm.reshape(-1) <= 0).nonzero()[0])
        raise ZeroVarianceError(
            f"weightnorm: row {row} of v is zero, so its norm is 0: the normalization "
            "divides by zero"
        )
    return g.reshape((-1,) + (1,) * len(dims)) * v / norm


def weightnorm_forward(x: Tensor, v: Tensor, g: Tensor) -> Tensor:
    r"""The weight-normalized linear map without bias, :math:`y_{bi} = g_i\langle v_i,
    x_b\rangle/\|v_i\|`: ``x`` ``(N, d)`` (or ``(*, d)``), ``v`` ``(C, d)``, ``g`` ``(C,)``."""
    if v.dim() != 2 or x.shape[-1] != v.shape[1]:
        raise InvalidArgumentError(
            f"weightnorm_forward: v must be (C, d) with d = x.shape[-1] = {x.shape[-1]}, got "
            f"{tuple(v.shape)}"
        )
    return nn.functional.linear(x, weightnorm_weight(v, g))


register_parametrization("weightnorm", weightnorm)
