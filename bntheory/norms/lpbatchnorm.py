r"""The paper's :math:`\ell_p` batch normalization (Section 3.3, p = 1, 2, ∞).

BatchNorm's arguments (``torch.nn.functional.batch_norm``); per channel, in training mode,

.. math:: c = y - \mu\mathbf 1,\qquad s_p = \big(\overline{|c|^p}\big)^{1/p}\ (p<\infty),
    \quad s_\infty = \max_i|c_i|,\qquad z = \gamma\, c/(s_p + \varepsilon) + \beta .

``eps`` is added to the scale (not under a square root), so ``l2batchnorm`` with ``eps = 0``
equals BatchNorm with ``eps = 0``.  ``running_var`` holds the running average of
:math:`s_p` (momentum as BatchNorm's); eval mode is the affine map
:math:`\gamma(y-\mu_{run})/(s_{run}+\varepsilon)+\beta`.  Where :math:`s_1` or
:math:`s_\infty` is not differentiable (a zero :math:`c_i`; tied maxima), the closed forms
take torch's one-sided choices: :math:`\mathrm{sign}(0) = 0`, and the gradient of a tied
maximum split evenly.  Closed forms: :mod:`bntheory.norms.grouped`, kind ``"lp"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from bntheory.errors import InvalidArgumentError
from bntheory.norms import grouped
from bntheory.norms.batchnorm import BatchNorm, parse_args

NAMES = {1.0: "l1batchnorm", 2.0: "l2batchnorm", math.inf: "linfbatchnorm"}


class LpBatchNorm(grouped.GroupNormalization):
    """:math:`\\ell_p` batch normalization for one ``p`` in {1, 2, ∞}."""

    title = "ℓp BatchNorm"

    def __init__(self, p: float = 2.0):
        if p not in NAMES:
            raise InvalidArgumentError(f"lpbatchnorm: p must be 1, 2 or inf, got p={p!r}")
        self.p = float(p)
        self.name = NAMES[self.p]
        self.title = f"ℓ{'∞' if p == math.inf else int(p)} BatchNorm"

    def plan(self, x: Tensor, *args: Any, **kwargs: Any) -> grouped.Plan:
        r"""BatchNorm's groups (one per channel) with the scale :math:`s_p + \varepsilon`; in
        eval mode the running statistics, ``running_var + eps`` as the scale."""
        a = parse_args(x, *args, **kwargs)
        fixed = None
        if not a.training:
            fixed = (
                a.per_channel(a.running_mean),
                a.per_channel(a.running_var) + a.eps,
            )  # > 0: parse_args checks
        return grouped.Plan(
            layer=self.name,
            view=lambda t: t,
            unview=lambda t: t,
            dims=a.dims,
            m=a.m,
            gamma=a.per_channel(a.weight),
            beta=a.per_channel(a.bias),
            eps=a.eps,
            center=True,
            kind="lp",
            p=self.p,
            fixed=fixed,
        )

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """The map above; in training mode the running statistics, when given, are updated:
        ``running_mean <- (1-momentum) running_mean + momentum mu``, ``running_var`` likewise
        with :math:`s_p`."""
        plan = self.plan(x, *args, **kwargs)
        out = self.apply(plan, x)
        a = parse_args(x, *args, **kwargs)
        if a.training and a.running_mean is not None:
            with torch.no_grad():
                mu = x.mean(a.dims, keepdim=True)
                s = grouped.lp_scale(x - mu, self.p, a.dims)
                a.running_mean.mul_(1 - a.momentum).add_(mu.reshape(-1), alpha=a.momentum)
                a.running_var.mul_(1 - a.momentum).add_(s.reshape(-1), alpha=a.momentum)
        return out

    def stateless_forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """The forward map without the running-statistics update."""
        return self.apply(self.plan(x, *args, **kwargs), x)

    def symbolic(self, y: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        r"""One channel's :math:`\gamma c_i/(s_p(c)+\varepsilon)+\beta` (``Abs``, ``Max``)."""
        import sympy

        m = len(y)
        gamma = params.get("gamma", sympy.Integer(1))
        beta = params.get("beta", sympy.Integer(0))
        eps = params.get("eps", sympy.Integer(0))
        mu = sympy.Add(*y) / m
        c = [yi - mu for yi in y]
        if self.p == math.inf:
            s = sympy.Max(*[sympy.Abs(ci) for ci in c])
        elif self.p == 1:
            s = sympy.Add(*[sympy.Abs(ci) for ci in c]) / m
        else:
            s = sympy.sqrt(sympy.Add(*[ci**2 for ci in c]) / m)
        return [gamma * ci / (s + eps) + beta for ci in c]

    example_kwargs = BatchNorm.example_kwargs
    symbolic_input = BatchNorm.symbolic_input

    def groups(self, t: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """``(N, C, *)`` -> ``(C, m)``: one row per channel, as BatchNorm's."""
        return BatchNorm.groups(self, t)
