r"""Argument validation shared by every built-in layer.

Each check raises the error type of :mod:`bntheory.errors` for its kind of misuse, with a
message that names the argument and the value it got.  ``where`` is the layer's name, put
in front of the message (``"layernorm: eps must be ..."``); ``None`` puts nothing there, as
for the layers whose arguments are those of ``torch.nn.functional.batch_norm``
(:func:`bntheory.norms.batchnorm.parse_args`, shared by BatchNorm, the
:math:`\ell_p` batch normalizations and noisy BatchNorm).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from bntheory.errors import (
    InvalidArgumentError,
    NonFiniteInputError,
    ShapeMismatchError,
    ZeroVarianceError,
)


def _at(where: str | None) -> str:
    """The message prefix naming the layer, or nothing."""
    return f"{where}: " if where else ""


def bind(
    where: str, signature: Callable[..., dict[str, Any]], x: Any, args: tuple, kwargs: dict
) -> dict[str, Any]:
    """The arguments of a call, ``x`` first, by name, defaults filled in.

    ``signature`` is a function with the layer's parameter list (that of its
    ``torch.nn.functional`` counterpart) that returns its arguments as a dict: calling it
    binds them by the interpreter's own rules (about 1 us, against 14 us for
    ``inspect.Signature.bind``, which the closed forms would pay on every call).  A call
    that does not fit raises InvalidArgumentError listing the parameters.
    """
    try:
        return signature(x, *args, **kwargs)
    except TypeError as exc:
        reason = str(exc).removeprefix(f"{signature.__qualname__}() ")
        names = ", ".join(inspect.signature(signature).parameters)
        raise InvalidArgumentError(f"{where}: {reason}; its arguments are {names}") from None


def check_finite(where: str | None, name: str, t: Tensor) -> None:
    """NonFiniteInputError naming the first non-finite entry of ``t``, called ``name``."""
    # One reduction decides the common case: a sum is finite only if every term is (NaN and
    # Inf propagate).  Only a non-finite sum, which may also be an overflow, is scanned.
    if math.isfinite(float(t.detach().sum())):
        return
    if not torch.isfinite(t).all():
        bad = tuple((~torch.isfinite(t)).nonzero()[0].tolist())
        raise NonFiniteInputError(
            f"{_at(where)}{name} contains a non-finite value ({t[bad].item()}) at index {bad}; "
            f"{name} must be finite everywhere"
        )


def check_input(where: str | None, x: Any, min_dim: int, layout: str, finite: bool = True) -> None:
    """``x`` must be a floating-point tensor of ``layout`` (at least ``min_dim`` axes),
    finite unless ``finite=False`` (the caller checks that later)."""
    if not isinstance(x, Tensor):
        raise InvalidArgumentError(
            f"{_at(where)}input must be a torch.Tensor, got {type(x).__name__}"
        )
    if x.dim() < min_dim:
        raise ShapeMismatchError(
            f"{_at(where)}input must have shape {layout} (at least {min_dim} dimensions), "
            f"got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise InvalidArgumentError(
            f"{_at(where)}input must be a floating-point tensor, got dtype {x.dtype}"
        )
    if finite:
        check_finite(where, "input", x)


def _check_dtype_device(where: str | None, name: str, t: Tensor, x: Tensor) -> None:
    """``t`` must have the input's dtype and device."""
    if t.dtype != x.dtype or t.device != x.device:
        raise InvalidArgumentError(
            f"{_at(where)}{name} must have the input's dtype and device ({x.dtype}, {x.device}), "
            f"got ({t.dtype}, {t.device})"
        )


def check_param(
    where: str | None, name: str, t: Any, shape: tuple[int, ...], x: Tensor, what: str
) -> Tensor | None:
    """``t`` (None allowed) must be a finite tensor of ``shape`` on the input's dtype and
    device; ``what`` says where the shape comes from (``"one per channel"``).  Returns ``t``."""
    if t is None:
        return None
    if not isinstance(t, Tensor):
        raise InvalidArgumentError(
            f"{_at(where)}{name} must be a torch.Tensor or None, got {type(t).__name__}"
        )
    if tuple(t.shape) != tuple(shape):
        raise ShapeMismatchError(
            f"{_at(where)}{name} must have shape {tuple(shape)} ({what}) for input of shape "
            f"{tuple(x.shape)}, got shape {tuple(t.shape)}"
        )
    _check_dtype_device(where, name, t, x)
    check_finite(where, name, t)
    return t


def check_like(where: str | None, name: str, t: Any, x: Tensor, finite: bool = True) -> None:
    """``t`` (a direction ``g`` or ``v``, or noise) must be a tensor of the input's shape,
    dtype and device, finite unless ``finite=False`` (the caller checks that later)."""
    if not isinstance(t, Tensor):
        raise InvalidArgumentError(
            f"{_at(where)}{name} must be a torch.Tensor, got {type(t).__name__}"
        )
    if t.shape != x.shape:
        raise ShapeMismatchError(
            f"{_at(where)}{name} must have the input's shape {tuple(x.shape)}, got {tuple(t.shape)}"
        )
    _check_dtype_device(where, name, t, x)
    if finite:
        check_finite(where, name, t)


def check_eps(where: str | None, eps: Any) -> float:
    r"""``eps`` as a float, which must be finite and :math:`\ge 0`."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"{_at(where)}eps must be a real number >= 0, got {eps!r}"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise InvalidArgumentError(
            f"{_at(where)}eps must be a finite real number >= 0, got eps={value}"
        )
    return value


def check_momentum(where: str | None, momentum: Any) -> None:
    """``momentum`` (of the running statistics' update) must be a number in [0, 1]."""
    if momentum is None or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
        raise InvalidArgumentError(
            f"{_at(where)}momentum must be a number in [0, 1], got momentum={momentum!r}"
        )


def check_running_pair(where: str | None, running_mean: Any, running_var: Any) -> None:
    """``running_mean`` and ``running_var`` must be given together or both be None."""
    if (running_mean is None) != (running_var is None):
        raise InvalidArgumentError(
            f"{_at(where)}running_mean and running_var must be given together or both be None, "
            f"got running_mean={'None' if running_mean is None else 'tensor'}, "
            f"running_var={'None' if running_var is None else 'tensor'}"
        )


def check_eval_stats(
    where: str | None, running_mean: Any, running_var: Any, eps: float, mode: str
) -> None:
    r"""Eval mode (``mode`` names the argument that selects it, ``"training=False"``) needs the
    running statistics, with :math:`\mathrm{var}_{run} + \varepsilon > 0` in every channel."""
    if running_mean is None:
        raise InvalidArgumentError(
            f"{_at(where)}running_mean and running_var must be given in eval mode ({mode}), "
            "got None"
        )
    bad = running_var + eps <= 0
    if bad.any():
        c = int(bad.nonzero()[0])
        raise ZeroVarianceError(
            f"{_at(where)}running_var[{c}] + eps = {float(running_var[c]) + eps} <= 0 in eval "
            "mode: the normalization divides by zero"
        )


def normalized_dims(where: str, x: Tensor, normalized_shape: Any) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple, checked against the input's trailing axes."""
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    try:
        ns = tuple(int(d) for d in ns)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"{where}: normalized_shape must be an int or a sequence of ints, "
            f"got {normalized_shape!r}"
        ) from None
    if not ns or tuple(x.shape[x.dim() - len(ns) :]) != ns or len(ns) > x.dim():
        raise ShapeMismatchError(
            f"{where}: normalized_shape {ns} must equal the trailing axes of the input, "
            f"got input of shape {tuple(x.shape)}"
        )
    return ns
