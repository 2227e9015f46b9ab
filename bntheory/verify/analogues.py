r"""The analogues of Theorems 1 and 2 for any registered layer, measured.

For one normalization group :math:`y\in\mathbb R^m` (the layer's input through
:meth:`~bntheory.norms.base.Normalization.symbolic_input`, ``gamma = 1``, ``beta = 0``) the
layer's Jacobian :math:`J` is assembled from its ``jvp`` (closed form or autograd).  The
layer's own scale is :math:`\sigma^2 = \|y-\mu\mathbf 1\|^2/\|z-\bar z\mathbf 1\|^2`, the
factor by which it shrinks the centered group: :math:`\mathrm{var}+\varepsilon` for
BatchNorm (the :math:`\sigma` Theorem 1 is stated in), :math:`\overline{y^2}+\varepsilon`
for RMSNorm, :math:`t^2 = (s_p+\varepsilon)^2` for the :math:`\ell_p` layers.  This measures

* the **gain** :math:`\sigma^2\|\hat g\|^2/\|g\|^2`, :math:`\hat g = J^\top g`: its supremum
  over :math:`g` is :math:`\sigma^2 s_{\max}(J)^2`, attained by the top left singular vector,
  and Gaussian :math:`g` give its typical value.  Theorem 1's bound
  :math:`\|\hat g\|^2\le\gamma^2\|g\|^2/\sigma^2` is "normalized gain :math:`\le 1`";
* the **directions removed**: the null space of :math:`J^\top` (singular values below the
  error model's tolerance), and which of :math:`\mathbf 1`, :math:`y-\mu\mathbf 1`, :math:`y`
  lie in it, at :math:`\varepsilon = 0` and at :math:`\varepsilon = 0.1`;
* the **curvature term** of Theorem 2, the layer's own
  :math:`\hat g^\top\nabla^2_y\langle g, z\rangle\hat g` (from its ``hvp``), made scale-free
  as :math:`\sigma^2\sqrt m\,(\cdot)/(\|g\|\,\|\hat g\|^2)` (computed from unit vectors: the
  ``hvp`` is bilinear in :math:`g` and the direction).

Cases: every batch family, ``m`` in {4, 16, 64}, two seeds, each group scaled to unit
variance (its offset and shape kept), :math:`\varepsilon` = 0 and 0.1.  The exact values
behind these numbers are derived in ``proofs/`` (p3, p4 for the BatchNorm map; p8--p10 for
the other layers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from bntheory.cases.batches import FAMILIES, make_groups
from bntheory.norms import Normalization
from bntheory.verify.errormodel import relative_tolerance

SIZES = (4, 16, 64)
SEEDS = 2
RANDOM_G = 4
REGIMES = {"eps=0": 0.0, "eps>0": 0.1}  # each group is scaled to var(y) = 1 first
CANDIDATES = ("1", "y - mu", "y")


@dataclass
class RegimeSummary:
    """The results of one analogue in one regime."""

    regime: str
    cases: int = 0
    sup_gain: float = 0.0  # max over cases of sigma^2 s_max(J)^2
    sup_gain_case: str = ""
    min_sup_gain: float = math.inf  # min over cases of the same (is the bound attained everywhere?)
    #: max over cases of (sup gain - 1) / tol, tol the error model's relative tolerance of the
    #: case: <= 1 means "gain <= 1 within rounding" (Theorem 1's bound holds) in every case
    excess: float = -math.inf
    attained: int = 0  # cases where |sup gain - 1| <= tol
    random_gain: list[float] = field(
        default_factory=list
    )  # quantiles 0, .5, .9, 1 of Gaussian-g gains
    removed: dict[str, int] = field(default_factory=dict)  # candidate -> cases where J^T removes it
    null_dims: list[int] = field(default_factory=list)  # distinct null-space dimensions seen
    curvature: list[float] = field(
        default_factory=list
    )  # quantiles 0, .5, 1 of the scale-free term
    curvature_nonpositive: float = 0.0  # fraction of cases with a term <= 0

    def directions(self) -> str:
        """The candidates removed in every case, and the rest of the null space."""
        always = [c for c in CANDIDATES if self.cases and self.removed.get(c, 0) == self.cases]
        if "y" in always and "y - mu" in always:
            always.remove("y")  # with 1 and y - mu removed, y is their combination
        dims = sorted(set(self.null_dims))
        other = min(dims) - len(always) if dims else 0  # the part of the null space every case has
        parts = always + ([f"{other} other"] if other > 0 else [])
        return ", ".join(parts) if parts else "none"


@dataclass
class AnalogueSummary:
    """The results of one analogue over its regimes."""

    name: str
    title: str
    regimes: list[RegimeSummary] = field(default_factory=list)
    skipped: str = ""

    def to_json(self) -> dict:
        """The summary as JSON."""
        return asdict(self)


def group_jacobian(layer: Normalization, x: torch.Tensor, kw: dict) -> torch.Tensor:
    """``(m, m)`` Jacobian of a one-group input, column by column from the layer's ``jvp``."""
    n = x.numel()
    eye = torch.eye(n, dtype=x.dtype, device=x.device)
    return torch.stack(
        [layer.jvp(x, eye[k].reshape(x.shape), **kw).reshape(-1) for k in range(n)], dim=1
    )


def _quantiles(values: list[float], qs: tuple[float, ...]) -> list[float]:
    return [float(np.quantile(values, q)) for q in qs] if values else []


def measure_analogues(
    layer: Normalization,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: Callable[[Iterable], Iterable] = lambda it: it,
    sizes: tuple[int, ...] = SIZES,
) -> AnalogueSummary:
    """The three measurements above on every case (see the module docstring)."""
    out = AnalogueSummary(name=layer.name, title=layer.title)
    work = [(r, f, m, s) for r in REGIMES for f in FAMILIES for m in sizes for s in range(SEEDS)]
    acc = {r: ([], [], RegimeSummary(regime=r)) for r in REGIMES}
    for regime, family, m, s in progress(work):
        gains, curv, summ = acc[regime]
        rng = np.random.default_rng([seed, s, m, list(FAMILIES).index(family)])
        y_np = make_groups(family, rng, 1, m)[0]
        y_np = y_np / np.std(y_np)  # unit variance: eps means the same for every layer and family
        eps = REGIMES[regime]
        y = torch.as_tensor(y_np, dtype=torch.float64, device=device)
        call = layer.symbolic_input(y, 1.0, 0.0, eps)
        if call is None:
            continue
        x, kw = call
        try:
            jac = group_jacobian(layer, x, kw)
        except (ArithmeticError, ValueError):  # e.g. a group the layer refuses
            continue
        if not bool(torch.isfinite(jac).all()):
            continue
        z = layer.stateless_forward(x, **kw).reshape(-1)
        spread = float(torch.linalg.vector_norm(z - z.mean()))
        if not spread > 0:
            continue
        sigma2 = (float(torch.linalg.vector_norm(y - y.mean())) / spread) ** 2
        u, sv, _ = torch.linalg.svd(jac)
        s_max = float(sv[0])
        sup = sigma2 * s_max**2
        where = f"{family}, m={m}, seed {s}"
        summ.cases += 1
        if sup >= summ.sup_gain:
            summ.sup_gain, summ.sup_gain_case = sup, where
        summ.min_sup_gain = min(summ.min_sup_gain, sup)
        # the layer's condition, and that of this measurement's own centering of y and z
        kappa = torch.clamp(layer.condition(x, **kw).max(), min=float(y.abs().max()))
        rel = float(relative_tolerance(x.dtype, kappa, m).max())
        summ.excess = max(summ.excess, (sup - 1) / rel)
        summ.attained += abs(sup - 1) <= rel
        tol = rel * max(s_max, 1e-300)
        summ.null_dims.append(int((sv <= tol).sum()))
        yc = y - y.mean()
        for name, vec in (("1", torch.ones_like(y)), ("y - mu", yc), ("y", y)):
            if float(torch.linalg.vector_norm(jac.T @ vec)) <= tol * float(
                torch.linalg.vector_norm(vec)
            ):
                summ.removed[name] = summ.removed.get(name, 0) + 1
        gen = torch.Generator().manual_seed(seed * 1000 + m + s)
        for _ in range(RANDOM_G):
            g = torch.randn(m, dtype=torch.float64, generator=gen).to(device)
            ghat = jac.T @ g
            gains.append(sigma2 * float(ghat @ ghat) / float(g @ g))
            nh = float(torch.linalg.vector_norm(ghat))
            if nh > 0:
                unit, gu = (ghat / nh).reshape(x.shape), g / torch.linalg.vector_norm(g)
                term = float((unit * layer.hvp(x, gu.reshape(x.shape), unit, **kw)).sum())
                if math.isfinite(term):
                    curv.append(sigma2 * math.sqrt(m) * term)
    for _regime, (gains, curv, summ) in acc.items():
        if not summ.cases:
            continue
        summ.random_gain = _quantiles(gains, (0.0, 0.5, 0.9, 1.0))
        summ.curvature = _quantiles(curv, (0.0, 0.5, 1.0))
        summ.curvature_nonpositive = float(np.mean([c <= 0 for c in curv])) if curv else 0.0
        summ.null_dims = sorted(set(summ.null_dims))
        out.regimes.append(summ)
    if not out.regimes:
        out.skipped = "symbolic_input gives no one-group input with gamma = 1, beta = 0"
    return out
