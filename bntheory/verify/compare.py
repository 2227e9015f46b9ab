"""Compare two routes to the same quantity under the error model, group by group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from bntheory.norms import Normalization
from bntheory.norms.base import group_norm
from bntheory.verify import errormodel


@dataclass(frozen=True)
class Comparison:
    """Outcome of one comparison.

    ``max_ratio`` is the largest ``error / allowed`` over groups: at most 1 means agreement
    within the error model.  ``max_rel_error`` is the largest ``error / scale``.
    """

    op: str
    max_ratio: float
    max_rel_error: float
    groups: int
    m: int

    @property
    def ok(self) -> bool:
        """Whether the largest error stays within its bound."""
        return self.max_ratio <= 1.0


def group_norms(
    layer: Normalization, t: Tensor, args: tuple = (), kwargs: dict | None = None
) -> Tensor:
    """Euclidean norm of each normalization group of ``t``, shape ``(G,)`` (overflow-safe)."""
    return group_norm(layer.groups(t, *args, **(kwargs or {})))


def compare(
    layer: Normalization,
    op: str,
    x: Tensor,
    a: Tensor,
    b: Tensor,
    args: tuple,
    kwargs: dict[str, Any],
    g: Tensor | None = None,
    v: Tensor | None = None,
) -> Comparison:
    """Compare results ``a`` and ``b`` of ``op`` at ``x`` (``g``, ``v``: the directions)."""
    if a.shape != b.shape:
        raise ValueError(
            f"compare: results have different shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    groups = layer.groups(x, *args, **kwargs)
    m = groups.shape[1]
    kappa = layer.condition(x, *args, **kwargs)
    scale = layer.term_scale(op, x, g, v, *args, **kwargs)
    error = group_norms(layer, a - b, args, kwargs)
    allowed = errormodel.relative_tolerance(x.dtype, kappa, m) * scale
    ratio = errormodel.ratio(error, allowed)
    rel = errormodel.ratio(error, scale)
    return Comparison(
        op=op,
        max_ratio=float(ratio.max()) if ratio.numel() else 0.0,
        max_rel_error=float(rel.max()) if rel.numel() else 0.0,
        groups=groups.shape[0],
        m=m,
    )
