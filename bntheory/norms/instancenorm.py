r"""InstanceNorm (Ulyanov, Vedaldi & Lempitsky 2016): each sample's channel normalized over space.

With the arguments of ``torch.nn.functional.instance_norm(input, running_mean, running_var,
weight, bias, use_input_stats, momentum, eps)``: input ``(N, C, *)`` with at least one
spatial axis; one group per sample and channel.  ``use_input_stats=False`` is the eval mode
(the running statistics, an affine map); with ``use_input_stats=True`` the running
statistics, when given, are updated in place as torch does: with the batch average of the
instances' means and of their unbiased variances.  Closed forms: :mod:`bntheory.norms.grouped`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bntheory.norms import grouped, validate


def _signature(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats=True,
    momentum=0.1,
    eps=1e-5,
):
    """The parameter list of ``torch.nn.functional.instance_norm``, for :func:`validate.bind`."""
    return {
        "input": input,
        "running_mean": running_mean,
        "running_var": running_var,
        "weight": weight,
        "bias": bias,
        "use_input_stats": use_input_stats,
        "momentum": momentum,
        "eps": eps,
    }


class InstanceNorm(grouped.GroupNormalization):
    """Normalization of each sample's channel over its spatial axes."""

    name = "instancenorm"
    title = "InstanceNorm"
    torch_counterpart = staticmethod(F.instance_norm)

    def _bound(self, x: Tensor, args: tuple, kwargs: dict) -> dict[str, Any]:
        """The validated arguments by name, ``eps`` as a float."""
        b = validate.bind(self.name, _signature, x, args, kwargs)
        validate.check_input(self.name, x, 3, "(N, C, L, ...) with at least one spatial axis")
        c = x.shape[1]
        for key in ("running_mean", "running_var", "weight", "bias"):
            validate.check_param(self.name, key, b[key], (c,), x, "one per channel")
        validate.check_running_pair(self.name, b["running_mean"], b["running_var"])
        validate.check_momentum(self.name, b["momentum"])
        b["eps"] = validate.check_eps(self.name, b["eps"])
        return b

    def plan(self, x: Tensor, *args: Any, **kwargs: Any) -> grouped.Plan:
        """One group per sample and channel, holding its spatial values; with
        ``use_input_stats=False`` the running statistics, ``t = sqrt(running_var + eps)``."""
        b = self._bound(x, args, kwargs)
        n, c = x.shape[:2]
        chan = lambda t: None if t is None else t.reshape(1, c, 1)
        fixed = None
        if not b["use_input_stats"]:
            validate.check_eval_stats(
                self.name, b["running_mean"], b["running_var"], b["eps"], "use_input_stats=False"
            )
            t = torch.sqrt(b["running_var"] + b["eps"])
            fixed = (chan(b["running_mean"]), chan(t))
        return grouped.Plan(
            layer=self.name,
            view=lambda t: t.reshape(n, c, -1),
            unview=lambda t: t.reshape(x.shape),
            dims=(2,),
            m=x.numel() // max(1, n * c),
            gamma=chan(b["weight"]),
            beta=chan(b["bias"]),
            eps=b["eps"],
            center=True,
            kind="std",
            fixed=fixed,
        )

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """``torch.nn.functional.instance_norm``, running statistics updated as torch does."""
        out = super().forward(x, *args, **kwargs)
        b = self._bound(x, args, kwargs)
        if b["use_input_stats"] and b["running_mean"] is not None:
            with torch.no_grad():
                var, mu = torch.var_mean(x.reshape(x.shape[0], x.shape[1], -1), dim=2, correction=1)
                mom = b["momentum"]
                b["running_mean"].mul_(1 - mom).add_(mu.mean(0), alpha=mom)
                b["running_var"].mul_(1 - mom).add_(var.mean(0), alpha=mom)
        return out

    def module_forward(
        self, x, *, weight, bias, running_mean, running_var, training, momentum, eps
    ):
        """Batch statistics in training, running statistics in eval
        (``use_input_stats=training``)."""
        return self.forward(x, running_mean, running_var, weight, bias, training, momentum, eps)

    def stateless_forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """The forward map without the running-statistics update."""
        return self.apply(self.plan(x, *args, **kwargs), x)

    def symbolic(self, y: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        r"""One instance's :math:`\gamma(y_i-\mu)/\sqrt{\mathrm{var}+\varepsilon}+\beta`."""
        from bntheory.norms.batchnorm import BatchNorm

        return BatchNorm.symbolic(self, y, params)

    def example_kwargs(self, shape, *, eps, training, weight_kind, rng, device="cpu"):
        """Per-channel ``weight`` and ``bias``; eval mode with random running statistics;
        None for an input without a spatial axis."""
        if len(shape) < 3:
            return None
        kw = {
            **grouped.affine_example((shape[1],), weight_kind, rng, device),
            "use_input_stats": training,
            "eps": eps,
        }
        if not training:
            kw |= grouped.running_example(shape[1], rng, device)
        return kw

    def symbolic_input(self, y, gamma, beta, eps):
        """``y`` as the one instance of a ``(1, 1, m)`` input."""
        t = lambda a: torch.tensor([float(a)], dtype=y.dtype, device=y.device)
        return y.reshape(1, 1, -1), {"weight": t(gamma), "bias": t(beta), "eps": eps}
