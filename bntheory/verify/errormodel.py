r"""The one error model that decides every numeric tolerance in the suite.

Two floating-point routes to the same exact quantity (a closed form and automatic
differentiation, say) agree up to rounding.  Per normalization group of :math:`m` values
we allow

.. math::
    \|a - b\| \;\le\; C\,u\,\kappa\,(1 + \log_2 m)\; S ,

* :math:`u` -- the unit roundoff of the dtype (:math:`2^{-53}` in float64);
* :math:`\kappa\ge 1` -- the layer's condition estimate at the input
  (:meth:`Normalization.condition`; for BatchNorm :math:`\max|y|/\sqrt{\mathrm{var}}`:
  centering loses that many digits, and every later quantity inherits them);
* :math:`1+\log_2 m` -- growth of the error of the pairwise/cascade sums that compute the
  group statistics (torch sums in blocks, so the error grows with :math:`\log m`, not :math:`m`);
* :math:`S` -- the scale of the quantity: the summed norms of the terms the formula adds
  (:meth:`Normalization.term_scale`); rounding is relative to the terms, not to a result
  that cancellation may have made small;
* :math:`C` = :data:`ROUNDING_STEPS` -- the number of rounding steps in the longest chain
  of either route (the HVP: statistics, normalization, three inner products, the
  combination; about a dozen on each route), doubled because both routes err.

This is an a-priori bound, not a fitted one: :func:`ratio` reports how much of it a
comparison used, and the report prints the largest ratio seen.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bntheory.norms.base import unit_roundoff

#: Rounding steps in the longest formula chain of either route, times two routes.
ROUNDING_STEPS = 32


def relative_tolerance(dtype: torch.dtype, kappa: Tensor, m: int) -> Tensor:
    """:math:`C\\,u\\,\\kappa\\,(1+\\log_2 m)` per group."""
    return ROUNDING_STEPS * unit_roundoff(dtype) * kappa * (1 + math.log2(max(m, 1)))


def ratio(error: Tensor, allowed: Tensor) -> Tensor:
    """``error / allowed`` per group, with ``0/0 = 0`` (two exact zeros agree)."""
    safe = torch.where(allowed > 0, allowed, torch.ones_like(allowed))
    return torch.where(allowed > 0, error / safe, torch.where(error > 0, torch.inf, 0.0))
