r"""Arora, Li & Lyu (ICLR 2019): scale invariance and the growth of the weight norm.

For a parameter group :math:`w` that feeds a normalization layer, the loss
:math:`F(w) = \mathcal L(\mathrm{Norm}(Xw))` is *scale invariant* when :math:`\varepsilon = 0`:
:math:`F(cw) = F(w)` for :math:`c > 0`.  The paper derives from it

.. math::
    \langle\nabla F(w), w\rangle = 0,\qquad \nabla F(cw) = \nabla F(w)/c,\qquad
    \nabla^2F(cw) = \nabla^2F(w)/c^2,

and, for gradient descent without weight decay :math:`w' = w - \eta\nabla F(w)`,
:math:`\|w'\|^2 = \|w\|^2 + \eta^2\|\nabla F(w)\|^2` exactly.  The groups: one weight row
before BatchNorm (a channel's input), the whole weight matrix before LayerNorm or RMSNorm
(every feature of a sample).  With :math:`\varepsilon > 0` the layer is not scale invariant;
the exact law is (``proofs/p5_scale_invariance.py`` for BatchNorm; the same computation per
normalization group for the others)

.. math::
    \langle\nabla F(w), w\rangle = \sum_{\text{groups}} \frac{\varepsilon}{\sigma^2}
    \langle \gamma\odot g, \hat y\rangle ,

with :math:`g = \nabla_z\mathcal L`, :math:`\hat y = (y - \mu)/\sigma` (:math:`\mu = 0` for
RMSNorm) and :math:`\sigma^2` the group's variance (mean square) plus :math:`\varepsilon`,
so :math:`\|w'\|^2 = \|w\|^2 - 2\eta\langle\nabla F, w\rangle + \eta^2\|\nabla F\|^2`.

The case space: an input batch :math:`X` (every batch family), a weight matrix, the layer's
``gamma`` and ``beta`` (not scaled), the quadratic loss
:math:`\mathcal L(z) = \langle a, z\rangle + \tfrac12\langle b, z\odot z\rangle` with random
``a`` and ``b``, a scale ``c``, a direction ``v`` and a step ``eta``.  Derivatives are
``torch.func``'s; tolerances are the error model's, against a-priori sizes of the gradient
and the Hessian-vector product (as for the theorems' cases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from hypothesis import strategies as st
from torch.func import grad, jvp

from bntheory.cases.batches import FAMILIES, channel_batch
from bntheory.cases.latex import number
from bntheory.cases.strategies import THEOREM_EPS
from bntheory.claims.model import Claim, ClaimInfo
from bntheory.claims.search import SearchJudge
from bntheory.errors import BNTheoryError
from bntheory.norms import get_layer
from bntheory.theorems.margin import Margin
from bntheory.verify.errormodel import relative_tolerance

ORDER = 40

#: The layers and their scale-invariant parameter group.
GROUPS = {
    "batchnorm": "one weight row (the input of one channel)",
    "layernorm": "the whole weight matrix",
    "rmsnorm": "the whole weight matrix",
}
SOURCE = "Arora, Li & Lyu (ICLR 2019, arXiv 1812.03981), scale-invariant parameters"


@dataclass(frozen=True)
class Problem:
    """A layer fed by ``y = X W^T``, its parameters and the loss, all drawn from ``seed``."""

    layer: str
    m: int
    d: int
    channels: int
    family: str
    eps: float
    c: float
    eta: float
    seed: int

    def to_json(self) -> dict:
        """The numbers that rebuild the problem."""
        return dict(self.__dict__)

    @staticmethod
    def from_json(d: dict) -> Problem:
        """The problem of :meth:`to_json`'s numbers."""
        return Problem(
            str(d["layer"]),
            int(d["m"]),
            int(d["d"]),
            int(d["channels"]),
            str(d["family"]),
            float(d["eps"]),
            float(d["c"]),
            float(d["eta"]),
            int(d["seed"]),
        )

    def draw(self) -> dict[str, torch.Tensor]:
        """The problem's tensors (float64)."""
        rng = np.random.default_rng(self.seed)
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))
        return {
            "X": t(channel_batch(self.family, rng, (self.m, self.d))),
            "W": t(rng.normal(size=(self.channels, self.d))),
            "gamma": t(rng.normal(size=self.channels) * 2),
            "beta": t(rng.normal(size=self.channels)),
            "a": t(rng.normal(size=(self.m, self.channels))),
            "b": t(rng.normal(size=(self.m, self.channels))),
            "v": t(rng.normal(size=(self.channels, self.d))),
        }

    def normalize(self, y: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """The registered layer on ``y`` (training-mode BatchNorm: batch statistics)."""
        layer = get_layer(self.layer)
        if self.layer == "batchnorm":
            return layer.stateless_forward(y, None, None, gamma, beta, True, 0.1, self.eps)
        if self.layer == "layernorm":
            return layer.stateless_forward(y, (self.channels,), gamma, beta, self.eps)
        return layer.stateless_forward(y, (self.channels,), gamma, self.eps)

    def groups(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(yhat, sigma^2)`` of every normalization group of ``y``, in ``y``'s layout."""
        if self.layer == "batchnorm":
            mu, ms = y.mean(0, keepdim=True), None
        elif self.layer == "layernorm":
            mu, ms = y.mean(1, keepdim=True), None
        else:
            mu, ms = torch.zeros_like(y[:, :1]), (y * y).mean(1, keepdim=True)
        dim = 0 if self.layer == "batchnorm" else 1
        var = ((y - mu) ** 2).mean(dim, keepdim=True) if ms is None else ms
        sigma2 = var + self.eps
        return (y - mu) / torch.sqrt(sigma2), sigma2.expand_as(y)


class Quantities:
    """``F``, its gradient and Hessian-vector product at ``w`` and ``c w``, by ``torch.func``,
    and the a-priori sizes the error model measures them against."""

    def __init__(self, p: Problem) -> None:
        t = p.draw()
        self.p, self.t = p, t
        x, weight = t["X"], t["W"]
        whole = p.layer != "batchnorm"
        self.w = weight.reshape(-1) if whole else weight[0]
        self.v = t["v"].reshape(-1) if whole else t["v"][0]

        def loss_of(w: torch.Tensor) -> torch.Tensor:
            full = w.reshape(weight.shape) if whole else torch.cat((w[None], weight[1:]), 0)
            z = p.normalize(x @ full.T, t["gamma"], t["beta"])
            return (t["a"] * z).sum() + 0.5 * (t["b"] * z * z).sum()

        self.loss_of = loss_of
        self.grad = grad(loss_of)(self.w)
        self.grad_c = grad(loss_of)(p.c * self.w)
        self.hvp = jvp(grad(loss_of), (self.w,), (self.v,))[1]
        self.hvp_c = jvp(grad(loss_of), (p.c * self.w,), (self.v,))[1]
        y = x @ (self.w.reshape(weight.shape) if whole else torch.cat((self.w[None], weight[1:]))).T
        self.y = y
        yhat, sigma2 = p.groups(y)
        z = p.normalize(y, t["gamma"], t["beta"])
        g = t["a"] + t["b"] * z  # dL/dz
        terms = (p.eps / sigma2) * t["gamma"] * g * yhat
        if not whole:  # only channel 0's group belongs to the parameter row
            terms = terms[:, :1]
        self.correction = terms.sum()
        self.correction_scale = terms.abs().sum()
        sig_min = float(torch.sqrt(sigma2.min()))
        gam = float(t["gamma"].abs().max())
        xn = float(torch.linalg.matrix_norm(x))
        gn = float(torch.linalg.vector_norm(g))
        group_m = p.m if p.layer == "batchnorm" else p.channels
        # |grad F| <= |X| |gamma|/sigma |g| (the layer's Jacobian has norm <= |gamma|/sigma)
        self.grad_bound = xn * gam * gn / sig_min
        # |Hess F v| <= |X|^2 (gamma^2/sigma^2 max|b| + 6 |gamma| |g| / (sigma^2 sqrt(m))) |v|
        curv = gam**2 * float(t["b"].abs().max()) + 6 * gam * gn / math.sqrt(group_m)
        self.hvp_bound = xn**2 * curv / sig_min**2 * float(torch.linalg.vector_norm(self.v))
        layer = get_layer(p.layer)
        if p.layer == "batchnorm":
            args = (None, None, t["gamma"], t["beta"], True, 0.1, p.eps)
        elif p.layer == "layernorm":
            args = ((p.channels,), t["gamma"], t["beta"], p.eps)
        else:
            args = ((p.channels,), t["gamma"], p.eps)
        kappa = torch.clamp(layer.condition(y, *args).max(), min=1.0)
        self.tol = float(relative_tolerance(torch.float64, kappa, group_m + p.d))


def _worst(checks: list[tuple[str, torch.Tensor, torch.Tensor, float]], tol: float):
    """The check that uses most of the error model's bound: ``(margin, sides)``."""
    best = None
    for what, lhs, rhs, scale in checks:
        err = float(torch.linalg.vector_norm(torch.atleast_1d(lhs - rhs)))
        allowed = tol * scale
        used = err / allowed if allowed > 0 else (math.inf if err > 0 else 0.0)
        if not math.isfinite(err):
            used = math.inf
        if best is None or used > best[0]:
            lhs_v = float(torch.linalg.vector_norm(torch.atleast_1d(lhs)))
            rhs_v = float(torch.linalg.vector_norm(torch.atleast_1d(rhs)))
            sides = {"lhs": lhs_v, "rhs": rhs_v, "tolerance": allowed, "identity": what}
            best = (used, Margin(-err, scale, allowed, True), sides)
    return best[1], best[2]


def _quantities(p: Problem) -> Quantities | None:
    try:
        return Quantities(p)
    except BNTheoryError:  # eps = 0 and a constant group: the layer divides by zero
        return None


def invariance_margin(p: Problem, corrected: bool = False):
    """The three identities of scale invariance; ``corrected``: the first with its exact
    ``eps > 0`` value instead of 0."""
    q = _quantities(p)
    if q is None:
        return Margin(0.0, 0.0, 0.0, False), {}
    c, wn = p.c, float(torch.linalg.vector_norm(q.w))
    inner = q.grad @ q.w
    target = q.correction if corrected else torch.zeros(())
    checks = [
        (
            r"\langle\nabla F(w), w\rangle",
            inner,
            target,
            q.grad_bound * wn + float(q.correction_scale),
        ),
        (r"\nabla F(cw)\ \text{vs}\ \nabla F(w)/c", q.grad_c, q.grad / c, 2 * q.grad_bound / c),
        (
            r"\nabla^2F(cw)v\ \text{vs}\ \nabla^2F(w)v/c^2",
            q.hvp_c,
            q.hvp / c**2,
            2 * q.hvp_bound / c**2,
        ),
    ]
    if corrected:  # the other two are not corrected: judge the inner product alone
        checks = checks[:1]
    return _worst(checks, q.tol)


def growth_margin(p: Problem, corrected: bool = False):
    """``|w - eta grad F|^2`` against ``|w|^2 + eta^2 |grad F|^2`` (``corrected``: minus
    ``2 eta`` times the exact inner product)."""
    q = _quantities(p)
    if q is None:
        return Margin(0.0, 0.0, 0.0, False), {}
    step = q.w - p.eta * q.grad
    lhs = step @ step
    rhs = q.w @ q.w + p.eta**2 * (q.grad @ q.grad)
    if corrected:
        rhs = rhs - 2 * p.eta * q.correction
    wn = float(torch.linalg.vector_norm(q.w))
    scale = wn**2 + 2 * p.eta * q.grad_bound * wn + (p.eta * q.grad_bound) ** 2
    return _worst([(r"\|w - \eta\nabla F(w)\|^2", lhs, rhs, scale)], q.tol)


@dataclass(frozen=True)
class ProblemSpace:
    """Problems of one layer: batch families, sizes, ``eps`` of the regime, scales, steps."""

    layer: str

    @property
    def description(self) -> str:
        """The space in words."""
        return (
            f"a {self.layer} layer fed by y = X W^T (X: m = 2-16 samples of d = 1-5 inputs, "
            f"every batch family), parameter group: {GROUPS[self.layer]}; a random quadratic "
            "loss of its output, a scale c, a direction v and a step eta"
        )

    def strategy(self, regime: str):
        """Problems of ``regime``'s ``eps`` values."""
        lo = 1 if self.layer == "batchnorm" else 2

        @st.composite
        def problems(draw) -> Problem:
            return Problem(
                self.layer,
                draw(st.integers(2, 16)),
                draw(st.integers(1, 5)),
                draw(st.integers(lo, 4)),
                draw(st.sampled_from(list(FAMILIES))),
                draw(st.sampled_from(THEOREM_EPS[regime])),
                draw(st.sampled_from([2.0, 0.5, 10.0, 1e-2, 1e2])),
                draw(st.sampled_from([0.1, 1.0, 1e-3, 10.0])),
                draw(st.integers(0, 2**32 - 1)),
            )

        return problems()

    def to_json(self, case: Problem) -> dict:
        """The problem's numbers."""
        return case.to_json()

    def from_json(self, data: dict) -> Problem:
        """The problem of :meth:`to_json`'s numbers."""
        return Problem.from_json(data)

    def formulas(self, data: dict, sides: dict | None) -> list[str]:
        """The problem and the violated identity as display formulas."""
        out = [
            rf"\text{{{data['layer']}}},\quad m = {data['m']},\quad d = {data['d']},\quad "
            rf"C = {data['channels']},\quad \varepsilon = {number(data['eps'])},\quad "
            rf"c = {number(data['c'])},\quad \eta = {number(data['eta'])},\quad "
            rf"\text{{{data['family'].replace('_', ' ')} inputs, seed {data['seed']}}}"
        ]
        if sides:
            out.append(
                rf"{sides['identity']}:\ \|\text{{lhs}}\| = {number(sides['lhs'], 10)},"
                rf"\ \|\text{{rhs}}\| = {number(sides['rhs'], 10)},"
                rf"\quad \text{{rounding allows}}\ {number(sides['tolerance'], 3)}"
            )
        return out


def _claims(layer: str) -> tuple[Claim, ...]:
    space = ProblemSpace(layer)
    reading = (
        f"The parameter group of {layer}: {GROUPS[layer]}; gamma and beta are not scaled; "
        "the identities are judged at the drawn w, c > 0 and direction v."
    )
    inv = r"\langle\nabla F(w), w\rangle = 0,\ \nabla F(cw) = \tfrac1c\nabla F(w),\ "
    inv += r"\nabla^2F(cw) = \tfrac1{c^2}\nabla^2F(w)"
    growth = r"\|w - \eta\nabla F(w)\|^2 = \|w\|^2 + \eta^2\|\nabla F(w)\|^2"
    exact = r"\langle\nabla F(w), w\rangle = \sum_{\text{groups}}\frac{\varepsilon}{\sigma^2}"
    exact += r"\langle\gamma\odot g, \hat y\rangle"

    proof, page = (
        ("p5_scale_invariance", "scale-invariance")
        if layer == "batchnorm"
        else ("p14_scale_invariance_groups", "scale-invariance-groups")
    )

    def info(suffix: str, statement: str, extra: str = "") -> ClaimInfo:
        return ClaimInfo(
            id=f"arora2019.{suffix}.{layer}",
            source=SOURCE if not extra else f"the exact eps > 0 law (proofs/{proof}.py)",
            statement=statement,
            case_space=space.description,
            reading=reading + extra,
            title=f"Scale invariance before {layer}",
            exact_form=f"arora2019.scale-invariance-exact.{layer}",
            derivation=f"{page}.md",
            paper="arora2019",
        )

    def judge(fn, corrected=False):
        return SearchJudge(space, lambda p: fn(p, corrected))

    return (
        Claim(info("scale-invariance", inv), judge(invariance_margin)),
        Claim(info("norm-growth", growth), judge(growth_margin)),
        Claim(
            info("scale-invariance-exact", exact, " The exact law for every eps >= 0."),
            judge(invariance_margin, True),
        ),
        Claim(
            info(
                "norm-growth-exact",
                growth + r" - 2\eta\langle\nabla F(w), w\rangle",
                " The exact law for every eps >= 0.",
            ),
            judge(growth_margin, True),
        ),
    )


CLAIMS = tuple(c for layer in GROUPS for c in _claims(layer))
