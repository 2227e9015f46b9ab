"""The Normalization protocol: the one extension point of the suite.

A layer maps a tensor to a tensor of the same shape and normalizes over its *groups*
(BatchNorm: one group per channel, holding the batch and spatial values).  Everything else
in the suite (symbolic derivations, verification, landscape probes, reports) asks the
registry for a layer by name and talks to it only through the methods below.

A subclass must give ``forward``; it may give ``symbolic`` and closed forms of ``jvp``,
``vjp`` and ``hvp``.  Whatever it leaves out is filled in by automatic differentiation of
``stateless_forward`` and reported as such by :meth:`Normalization.provides`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from bntheory.norms import autodiff

#: The differential operations of the protocol, in the order reports list them.
OPERATIONS: tuple[str, ...] = ("jvp", "vjp", "hvp")


class Normalization(abc.ABC):
    """Base class of every registered layer.

    Class attributes a subclass sets:

    ``name``
        registry key, lower case (``"batchnorm"``).
    ``title``
        human-readable name for reports.
    ``torch_counterpart``
        the ``torch.nn.functional`` function with the same arguments, if one exists; the
        forward is tested against it.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    torch_counterpart: ClassVar[Callable[..., Tensor] | None] = None

    # ----------------------------------------------------------------- forward
    @abc.abstractmethod
    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """The layer's map, with the arguments of ``torch_counterpart``."""

    def stateless_forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """The same map without side effects (no running-statistics update).

        Differentiated by the autograd fallbacks and the oracle.  Layers whose ``forward``
        mutates state must override it.
        """
        return self.forward(x, *args, **kwargs)

    def symbolic(self, y: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        """The map on one group vector of SymPy symbols ``y`` (a list of expressions).

        ``params`` maps parameter names (``gamma``, ``beta``, ``eps``, ...) to SymPy
        expressions or numbers.  Layers without a symbolic form raise NotImplementedError.
        """
        raise NotImplementedError(f"layer {self.name!r} has no symbolic forward")

    # ------------------------------------------------------- derivatives (AD)
    def jvp(self, x: Tensor, v: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """:math:`J v` (autograd fallback)."""
        return autodiff.autograd_jvp(self._pure(args, kwargs), x, v)

    def vjp(self, x: Tensor, g: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r""":math:`J^\top g` (autograd fallback)."""
        return autodiff.autograd_vjp(self._pure(args, kwargs), x, g)

    def hvp(self, x: Tensor, g: Tensor, v: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r""":math:`\nabla^2_x\langle g, f(x)\rangle v` (autograd fallback)."""
        return autodiff.autograd_hvp(self._pure(args, kwargs), x, g, v)

    def _pure(self, args: tuple, kwargs: dict) -> Callable[[Tensor], Tensor]:
        return lambda t: self.stateless_forward(t, *args, **kwargs)

    # -------------------------------------------------------- error-model hooks
    # Defaults that fit any layer; a layer that knows its groups and formulas overrides them
    # for sharper tolerances and speed (every built-in layer does).
    def groups(self, t: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """``t`` (input-shaped) rearranged as ``(G, m)``: one row per normalization group.

        ``args``/``kwargs`` are the layer's arguments (LayerNorm's groups depend on
        ``normalized_shape``).  Default: the whole tensor is one group."""
        return t.reshape(1, -1)

    def condition(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r"""Per-group condition estimate ``kappa >= 1`` of the layer at ``x``, shape ``(G,)``.

        The relative rounding error of the layer's outputs and derivatives is at most a
        small multiple of ``u * kappa`` (see :mod:`bntheory.verify.errormodel`).  Default:
        the digits centering loses, :math:`\max|y|/\mathrm{std}(y)` per group, capped at
        :math:`1/u`.
        """
        return rows_condition(self.groups(x, *args, **kwargs), x.dtype)

    def term_scale(
        self, op: str, x: Tensor, g: Tensor | None, v: Tensor | None, *args: Any, **kwargs: Any
    ) -> Tensor:
        r"""Per-group magnitude of the terms the layer's formula for ``op`` adds up, ``(G,)``.

        ``op`` is ``forward``, ``jvp`` (direction ``v``), ``vjp`` (``g``) or ``hvp``
        (``g`` and ``v``).  For a sum of terms :math:`\sum_k t_k` it is
        :math:`\sum_k\|t_k\|`: rounding errors are relative to it, not to the (possibly
        cancelled) result.  It sets the scale of the error model
        (:mod:`bntheory.verify.errormodel`).

        Default (any layer, dense, for small inputs): the group's rows of the Jacobian
        :math:`J` (or of :math:`\nabla^2_x\langle g, f\rangle` for ``hvp``) by autograd, in
        Frobenius norm, times the direction's norm; ``forward``: the output's norm.
        """
        from torch.func import hessian, jacrev

        f = self._pure(args, kwargs)
        n = x.numel()
        index = self.groups(
            torch.arange(n, device=x.device).reshape(x.shape).to(x.dtype), *args, **kwargs
        ).long()
        if op == "forward":
            return group_norm(f(x).reshape(-1)[index])
        if op in ("jvp", "vjp"):
            jac = jacrev(lambda t: f(t.reshape(x.shape)).reshape(-1))(x.reshape(-1))
            size = torch.linalg.vector_norm(v if op == "jvp" else g)
            if op == "vjp":
                jac = jac.T  # rows of J^T: the result's entries
        elif op == "hvp":
            jac = hessian(lambda t: (g.reshape(-1) * f(t.reshape(x.shape)).reshape(-1)).sum())(
                x.reshape(-1)
            )
            size = torch.linalg.vector_norm(v)
        else:
            raise ValueError(f"op must be forward, jvp, vjp or hvp, got {op!r}")
        return torch.linalg.vector_norm(jac[index], dim=(1, 2)) * size

    # ------------------------------------------------------------ in a network
    def module_forward(
        self,
        x: Tensor,
        *,
        weight: Tensor,
        bias: Tensor,
        running_mean: Tensor,
        running_var: Tensor,
        training: bool,
        momentum: float,
        eps: float,
    ) -> Tensor:
        """The layer inside a network (:class:`bntheory.nn.Norm`), given BatchNorm-style
        per-channel parameters and running statistics.  Default: BatchNorm's argument list."""
        return self.forward(x, running_mean, running_var, weight, bias, training, momentum, eps)

    # ------------------------------------------------------- example arguments
    def example_kwargs(
        self,
        shape: tuple[int, ...],
        *,
        eps: float,
        training: bool,
        weight_kind: str,
        rng: Any,
        device: str | torch.device = "cpu",
    ) -> dict[str, Any] | None:
        """The layer's keyword arguments for a test input of ``shape``, or None where the
        setting does not apply (a shape the layer refuses, eval mode for a layer without
        one).  ``weight_kind`` (ones, positive, negative, zero, mixed) and ``rng`` (a numpy
        Generator) draw the affine parameters.  Default: no arguments, training mode only."""
        return {} if training else None

    def symbolic_input(
        self, y: Tensor, gamma: float, beta: float, eps: float
    ) -> tuple[Tensor, dict] | None:
        """An input and keyword arguments with exactly one group, ``y``, on which the layer
        computes :meth:`symbolic` with these ``gamma``, ``beta``, ``eps``; None where the
        layer has no such parameters.  Default: ``y`` as one column ``(m, 1)``, no arguments,
        for ``gamma = 1, beta = 0, eps = 0`` only."""
        return (y.reshape(-1, 1), {}) if (gamma, beta, eps) == (1, 0, 0) else None

    # ------------------------------------------------------------ description
    @classmethod
    def closed_forms(cls) -> tuple[str, ...]:
        """The operations this layer implements in closed form (not by autograd)."""
        return tuple(op for op in OPERATIONS if getattr(cls, op) is not getattr(Normalization, op))

    @classmethod
    def has_symbolic(cls) -> bool:
        """Whether the layer gives :meth:`symbolic` (its forward in SymPy)."""
        return cls.symbolic is not Normalization.symbolic

    @classmethod
    def provides(cls) -> dict[str, str]:
        """What the layer gives, operation by operation: ``closed form`` or ``autograd``."""
        out = {"forward": "torch", "symbolic": "sympy" if cls.has_symbolic() else "none"}
        closed = cls.closed_forms()
        for op in OPERATIONS:
            out[op] = "closed form" if op in closed else "autograd"
        out["torch_counterpart"] = (
            f"torch.nn.functional.{cls.torch_counterpart.__name__}"
            if cls.torch_counterpart
            else "none"
        )
        return out


def group_norm(rows: Tensor) -> Tensor:
    """Euclidean norm of each row of ``rows`` ``(G, m)``, shape ``(G,)``.

    Scaled by the largest entry first: ``torch.linalg.vector_norm`` squares the entries and
    overflows above ~1e154, which huge-scale batches reach."""
    big = rows.abs().amax(dim=1, keepdim=True)
    safe = torch.where(big > 0, big, torch.ones_like(big))
    return (big * torch.linalg.vector_norm(rows / safe, dim=1, keepdim=True)).reshape(-1)


def unit_roundoff(dtype: torch.dtype) -> float:
    """:math:`u = \\tfrac12\\,\\mathrm{eps}` of the floating-point type (``2**-53`` in float64)."""
    return torch.finfo(dtype).eps / 2


def condition_estimate(big: Tensor, spread: Tensor, dtype: torch.dtype) -> Tensor:
    r"""The condition estimate of centering, per group: from the largest magnitude
    :math:`\max_i|y_i|` (``big``) and the spread :math:`\sqrt{\mathrm{var}}` (``spread``),
    both ``(G,)``,

    .. math:: \kappa = \min\big(\max(1,\ \max_i|y_i| / \sqrt{\mathrm{var}}),\ 1/u\big),

    and :math:`1/u` (no correct digit) where the spread is 0.  The one definition of the
    formula: every layer's :meth:`Normalization.condition` that centers ends here.
    """
    limit = 1 / unit_roundoff(dtype)
    kappa = torch.where(spread > 0, big / torch.where(spread > 0, spread, 1.0), limit)
    return torch.clamp(kappa, min=1.0, max=limit)


def rows_condition(rows: Tensor, dtype: torch.dtype) -> Tensor:
    r""":func:`condition_estimate` of each row of ``rows`` ``(G, m)``, its spread the
    two-pass :math:`\sqrt{\mathrm{var}}` of the row, :math:`u` that of ``dtype`` (the
    input's), shape ``(G,)``."""
    c = rows - rows.mean(1, keepdim=True)
    spread = torch.sqrt((c * c).mean(1))
    return condition_estimate(rows.abs().amax(1), spread, dtype)
