r"""The search space of a worst-case search: a flat parameter vector <-> one case.

Every Theorem 1/2 statement is invariant under shifting ``y`` and under scaling ``y`` and
``sqrt(eps)`` together (only :math:`\hat y` and :math:`\sigma` enter, and both sides scale
alike), so without loss of generality a case has :math:`\mathrm{var}(y) = 1` and
:math:`\varepsilon` = ``eps_ratio`` (the ratio :math:`\varepsilon/\mathrm{var}`):

* ``u`` (``m`` numbers) :math:`\to y = \sqrt m\,Pu/\|Pu\|` (mean 0, variance 1);
* ``g`` (``m`` numbers), as is;
* ``F`` (``m x r`` numbers) :math:`\to H = FF^\top` (positive semi-definite) or
  :math:`H = \tfrac12(F_1F_2^\top + F_2F_1^\top)` (any symmetric matrix of rank :math:`\le 2r`);
* ``t`` (one number) :math:`\to \gamma = s\,e^{t}` with a fixed sign ``s`` (starts try both);
* ``lam`` (one number, Theorem 4.4 only) :math:`\to \lambda = e^{\ell}`.

Box bounds on the raw numbers keep every start bounded (``bound``), as L-BFGS-B needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from bntheory.cases.theorem import Case
from bntheory.errors import InvalidArgumentError


@dataclass(frozen=True)
class CaseSpace:
    """The parameter space of a case: its size, regime and the shape of ``H``."""

    m: int
    eps_ratio: float  # eps / var(y); 0 in the eps=0 regime
    psd: bool = False  # H = F F^T
    rank: int = 0  # columns of F (0: m, full rank)
    gamma_sign: float = 1.0
    with_lam: bool = False
    bound: float = 10.0  # |raw parameter| <= bound (log-parameters: <= 3)

    def __post_init__(self):
        if self.m < 2:
            raise InvalidArgumentError(
                f"m must be >= 2 (a batch of one has no variance), got m={self.m}"
            )
        if not (self.eps_ratio >= 0 and math.isfinite(self.eps_ratio)):
            raise InvalidArgumentError(
                f"eps_ratio = eps/var must be finite and >= 0, got {self.eps_ratio}"
            )

    @property
    def r(self) -> int:
        """The rank of ``H``'s factor (``m`` when unrestricted)."""
        return self.rank or self.m

    @property
    def sizes(self) -> list[tuple[str, int]]:
        """The names and sizes of the parameter blocks, in order."""
        f = self.m * self.r * (1 if self.psd else 2)
        return [("u", self.m), ("g", self.m), ("F", f), ("t", 1)] + (
            [("lam", 1)] if self.with_lam else []
        )

    @property
    def dim(self) -> int:
        """The total number of parameters."""
        return sum(n for _, n in self.sizes)

    def bounds(self) -> list[tuple[float, float]]:
        """The box bounds of every parameter."""
        out = []
        for name, n in self.sizes:
            b = 3.0 if name in ("t", "lam") else self.bound
            out += [(-b, b)] * n
        return out

    def split(self, theta: Tensor) -> dict[str, Tensor]:
        """The parameter vector ``theta`` split into its named blocks."""
        parts, i = {}, 0
        for name, n in self.sizes:
            parts[name] = theta[i : i + n]
            i += n
        return parts

    def case(self, theta: Tensor) -> tuple[Case, Tensor | None]:
        """The case of ``theta`` (a float64 tensor, possibly tracked by autograd), as a batch
        of one, and ``lam`` (or ``None``)."""
        p = self.split(theta)
        u = p["u"] - p["u"].mean()
        y = math.sqrt(self.m) * u / torch.linalg.vector_norm(u).clamp_min(1e-300)
        if self.psd:
            f = p["F"].reshape(self.m, self.r)
            h = f @ f.T
        else:
            f1, f2 = p["F"].reshape(2, self.m, self.r)
            h = 0.5 * (f1 @ f2.T + f2 @ f1.T)
        gamma = self.gamma_sign * torch.exp(p["t"])
        lam = torch.exp(p["lam"])[0] if self.with_lam else None
        zero = torch.zeros(1, dtype=theta.dtype, device=theta.device)
        return Case(
            y=y[None], gamma=gamma, beta=zero, eps=float(self.eps_ratio), g=p["g"][None], H=h[None]
        ), lam

    def random(self, rng: np.random.Generator) -> np.ndarray:
        """A random start inside the box."""
        theta = rng.normal(size=self.dim)
        return np.clip(theta, [b[0] for b in self.bounds()], [b[1] for b in self.bounds()])
