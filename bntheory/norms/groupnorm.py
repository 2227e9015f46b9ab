r"""GroupNorm (Wu & He 2018): each sample's channels split into groups, each normalized.

With the arguments of ``torch.nn.functional.group_norm(input, num_groups, weight, bias,
eps)``: input ``(N, C, *)``, ``C`` divisible by ``num_groups``; one group per sample and
channel group, holding :math:`m = (C/\text{num\_groups})\prod(\text{spatial})` values;
``weight`` and ``bias`` are per channel, so :math:`\gamma` varies inside a group.
InstanceNorm is ``num_groups = C``, LayerNorm over ``(C, *)`` is ``num_groups = 1`` (with a
per-channel affine map).  Closed forms: :mod:`bntheory.norms.grouped`, kind ``"std"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from bntheory.errors import InvalidArgumentError, ShapeMismatchError
from bntheory.norms import grouped, validate


def _signature(input, num_groups, weight=None, bias=None, eps=1e-5):
    """The parameter list of ``torch.nn.functional.group_norm``, for :func:`validate.bind`."""
    return {"input": input, "num_groups": num_groups, "weight": weight, "bias": bias, "eps": eps}


def per_channel(t: Tensor | None, x: Tensor, groups: int) -> Tensor | None:
    """A per-channel ``(C,)`` tensor laid out like ``x.reshape(N, groups, -1)``."""
    if t is None:
        return None
    c = x.shape[1]
    full = t.reshape((1, c) + (1,) * (x.dim() - 2)).expand((1,) + tuple(x.shape[1:]))
    return full.reshape(1, groups, -1)


class GroupNorm(grouped.GroupNormalization):
    """Normalization of each sample's channel groups (and their spatial values)."""

    name = "groupnorm"
    title = "GroupNorm"
    torch_counterpart = staticmethod(F.group_norm)

    def plan(self, x: Tensor, *args: Any, **kwargs: Any) -> grouped.Plan:
        r"""One group per sample and ``num_groups``-th of the channels, with their spatial
        values; :math:`\gamma`, :math:`\beta` per channel."""
        b = validate.bind(self.name, _signature, x, args, kwargs)
        validate.check_input(self.name, x, 2, "(N, C, *)")
        groups, c = b["num_groups"], x.shape[1]
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise InvalidArgumentError(
                f"{self.name}: num_groups must be a positive int, got {groups!r}"
            )
        if c % groups:
            raise ShapeMismatchError(
                f"{self.name}: the {c} channels of input of shape {tuple(x.shape)} are not "
                f"divisible by num_groups={groups}"
            )
        weight = validate.check_param(self.name, "weight", b["weight"], (c,), x, "one per channel")
        bias = validate.check_param(self.name, "bias", b["bias"], (c,), x, "one per channel")
        n = x.shape[0]
        return grouped.Plan(
            layer=self.name,
            view=lambda t: t.reshape(n, groups, -1),
            unview=lambda t: t.reshape(x.shape),
            dims=(2,),
            m=x.numel() // max(1, n * groups),
            gamma=per_channel(weight, x, groups),
            beta=per_channel(bias, x, groups),
            eps=validate.check_eps(self.name, b["eps"]),
            center=True,
            kind="std",
        )

    def module_forward(
        self, x, *, weight, bias, running_mean, running_var, training, momentum, eps
    ):
        """``gcd(C, 8)`` groups, halved until each holds at least 4 values (GroupNorm's paper
        uses 32 on wide networks; these are small, and dense layers have no spatial axes)."""
        c = x.shape[1]
        groups = math.gcd(c, 8)
        while groups > 1 and (c // groups) * (x[0, 0].numel()) < 4:
            groups //= 2
        return self.forward(x, groups, weight, bias, eps)

    def symbolic(self, y: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        r"""One group's :math:`\gamma(y_i-\mu)/\sqrt{\mathrm{var}+\varepsilon}+\beta` (shared
        :math:`\gamma`, :math:`\beta`)."""
        from bntheory.norms.batchnorm import BatchNorm

        return BatchNorm.symbolic(self, y, params)

    def example_kwargs(self, shape, *, eps, training, weight_kind, rng, device="cpu"):
        """A ``num_groups`` drawn among the divisors of ``C``, per-channel ``weight`` and
        ``bias``; training only (GroupNorm has no eval mode)."""
        if not training:
            return None
        c = shape[1]
        groups = [k for k in range(1, c + 1) if c % k == 0]
        num = int(groups[rng.integers(len(groups))])
        return {
            "num_groups": num,
            **grouped.affine_example((c,), weight_kind, rng, device),
            "eps": eps,
        }

    def symbolic_input(self, y, gamma, beta, eps):
        """``y`` as the one group of a ``(1, 1, m)`` input, ``num_groups = 1``."""
        import torch

        t = lambda a: torch.tensor([float(a)], dtype=y.dtype, device=y.device)
        return y.reshape(1, 1, -1), {
            "num_groups": 1,
            "weight": t(gamma),
            "bias": t(beta),
            "eps": eps,
        }
