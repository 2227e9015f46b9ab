r"""InstanceNorm (Ulyanov, Vedaldi & Lempitsky 2016): each sample's channel normalized over space.

With the arguments of ``torch.nn.functional.instance_norm(input, running_mean, running_var,
weight, bias, use_input_stats, momentum, eps)``: input ``(N, C, *)`` with at least one
spatial axis; one group per sample and channel.  ``use_input_stats=False`` is the eval mode
(the running statistics, an affine map); with ``use_input_stats=True`` the running
statistics, when given, are updated in place as torch does: with the batch average of the
instances' means and of their unbiased variances.  Closed forms: :mod:`bntheory.norms._group`.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from bntheory.errors import InvalidArgumentError, ZeroVarianceError
from bntheory.norms import _group


def _signature(input, running_mean=None, running_var=None, weight=None, bias=None,  # noqa: A002
               use_input_stats=True, momentum=0.1, eps=1e-5):
    """The parameter list of ``torch.nn.functional.instance_norm``."""


class InstanceNorm(_group.GroupNormalization):
    """Normalization of each sample's channel over its spatial axes."""

    name = "instancenorm"
    title = "InstanceNorm"
    torch_counterpart = staticmethod(F.instance_norm)
    SIGNATURE = inspect.signature(_signature)

    def _bound(self, x: Tensor, args: tuple, kwargs: dict) -> dict[str, Any]:
        b = _group.bind(self.name, self.SIGNATURE, x, args, kwargs)
        _group.check_input(self.name, x, 3, "(N, C, L, ...) with at least one spatial axis")
        c = x.shape[1]
        for key in ("running_mean", "running_var", "weight", "bias"):
            _group.check_param(self.name, key, b[key], (c,), x, "one per channel")
        if (b["running_mean"] is None) != (b["running_var"] is None):
            raise InvalidArgumentError(f"{self.name}: running_mean and running_var must be given together or both be None")
        momentum = b["momentum"]
        if momentum is None or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise InvalidArgumentError(f"{self.name}: momentum must be a number in [0, 1], got momentum={momentum!r}")
        b["eps"] = _group.check_eps(self.name, b["eps"])
        return b

    def plan(self, x: Tensor, *args: Any, **kwargs: Any) -> _group.Plan:
        b = self._bound(x, args, kwargs)
        n, c = x.shape[:2]
        chan = lambda t: None if t is None else t.reshape(1, c, 1)  # noqa: E731
        fixed = None
        if not b["use_input_stats"]:
            if b["running_mean"] is None:
                raise InvalidArgumentError(f"{self.name}: running_mean and running_var must be given when "
                                           "use_input_stats=False (eval mode), got None")
            t = torch.sqrt(b["running_var"] + b["eps"])
            if not bool((t > 0).all()):
                k = int((t <= 0).nonzero()[0])
                raise ZeroVarianceError(f"{self.name}: running_var[{k}] + eps = {float(t[k]) ** 2} <= 0 in eval mode: "
                                        "the normalization divides by zero")
            fixed = (chan(b["running_mean"]), chan(t))
        return _group.Plan(
            layer=self.name, view=lambda t: t.reshape(n, c, -1), unview=lambda t: t.reshape(x.shape), dims=(2,),
            m=x.numel() // max(1, n * c), gamma=chan(b["weight"]), beta=chan(b["bias"]), eps=b["eps"], center=True,
            kind="std", fixed=fixed)

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

    def module_forward(self, x, *, weight, bias, running_mean, running_var, training, momentum, eps):
        """Batch statistics in training, running statistics in eval (``use_input_stats=training``)."""
        return self.forward(x, running_mean, running_var, weight, bias, training, momentum, eps)

    def stateless_forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return self.apply(self.plan(x, *args, **kwargs), x)

    def symbolic(self, y: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        r"""One instance's :math:`\gamma(y_i-\mu)/\sqrt{\mathrm{var}+\varepsilon}+\beta`."""
        from bntheory.norms.batchnorm import BatchNorm

        return BatchNorm.symbolic(self, y, params)

    def example_kwargs(self, shape, *, eps, training, weight_kind, rng, device="cpu"):
        if len(shape) < 3:
            return None
        kw = {**_group.affine_example((shape[1],), weight_kind, rng, device), "use_input_stats": training, "eps": eps}
        if not training:
            kw |= _group.running_example(shape[1], rng, device)
        return kw

    def symbolic_input(self, y, gamma, beta, eps):
        t = lambda a: torch.tensor([float(a)], dtype=y.dtype, device=y.device)  # noqa: E731
        return y.reshape(1, 1, -1), {"weight": t(gamma), "bias": t(beta), "eps": eps}
