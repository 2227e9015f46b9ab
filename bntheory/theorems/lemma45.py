r"""Lemma 4.5 (favourable initialization), settled on single-neuron problems solved exactly.

The lemma (arXiv 1805.11604): for an initialization :math:`W_0` with
:math:`\langle W_0, W^*\rangle > 0`,

.. math::
    \|W_0 - \hat W^*\|^2 \le \|W_0 - W^*\|^2
    - \frac{(\|W^*\|^2 - \langle W^*, W_0\rangle)^2}{\|W^*\|^2},

with :math:`W^*` and :math:`\hat W^*` the closest optima of the standard and the BatchNorm
network.  Here, on a concrete problem, every optimum is known in closed form:

* **Standard network**: one linear neuron :math:`f(x) = w^\top x` on an input batch
  :math:`X\in\mathbb Q^{m\times d}` (full column rank), squared loss against targets ``t``:
  the unique optimum is :math:`W^* = (X^\top X)^{-1}X^\top t`.
* **BatchNorm network**: :math:`\hat f = \gamma\,\mathrm{BN}(Xw) + \beta` with trainable
  :math:`\gamma, \beta` (any :math:`\varepsilon\ge 0`).  :math:`\mathrm{BN}(Xw)` is
  :math:`PXw` rescaled (:math:`P = I - \tfrac1m\mathbf 1\mathbf 1^\top`), and :math:`\gamma`
  absorbs any rescaling, so the loss at its best :math:`\gamma,\beta` is
  :math:`\|Pt\|^2 - \langle PXw, Pt\rangle^2/\|PXw\|^2`: minimal exactly on the punctured line
  :math:`\{c\,w_c : c\ne 0\}`, :math:`w_c = (X^\top PX)^{-1}X^\top Pt` (when :math:`PX` has
  full column rank and :math:`X^\top Pt\ne 0`).
* **Reading of "closest optimum"**: :math:`\hat W^*` is the BatchNorm optimum closest to
  :math:`W_0` (its orthogonal projection onto that line), :math:`W^*` the (unique)
  standard one.

Everything is computed in exact rational arithmetic (SymPy), so the verdict on each problem
is exact; :func:`settle` scans seeded random integer problems and returns the first
counterexample (re-checked), or the number of problems on which the lemma held.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import sympy

from bntheory.errors import InvalidArgumentError

LATEX = (
    r"\|W_0 - \hat W^*\|^2 \le \|W_0 - W^*\|^2 - "
    r"\frac{(\|W^*\|^2 - \langle W^*, W_0\rangle)^2}{\|W^*\|^2}\quad(\langle W_0, W^*\rangle > 0)"
)
READING = (
    "Single linear neuron, squared loss. W* = the standard network's unique optimum; Ŵ* = the "
    "BatchNorm network's optimum (over w, with γ, β trainable; any ε ≥ 0) closest to W0. "
    "The BatchNorm optima form the punctured line {c·w_c : c ≠ 0}, w_c = (XᵀPX)⁻¹XᵀPt."
)


@dataclass(frozen=True)
class Problem:
    """A least-squares problem with exact inputs, targets and initialization."""

    X: sympy.Matrix  # (m, d) inputs, one row per sample
    t: sympy.Matrix  # (m, 1) targets
    W0: sympy.Matrix  # (d, 1) initialization

    def __post_init__(self):
        m, d = self.X.shape
        if self.t.shape != (m, 1) or self.W0.shape != (d, 1):
            raise InvalidArgumentError(
                f"shapes must be X (m, d), t (m, 1), W0 (d, 1); got {self.X.shape}, "
                f"{self.t.shape}, {self.W0.shape}"
            )

    @property
    def centering(self) -> sympy.Matrix:
        """The ``(m, m)`` centering matrix ``I - 11^T/m``."""
        m = self.X.shape[0]
        return sympy.eye(m) - sympy.ones(m, m) / m


def standard_optimum(p: Problem) -> sympy.Matrix:
    """The exact minimizer of the standard (unnormalized) problem."""
    if p.X.rank() < p.X.shape[1]:
        raise InvalidArgumentError(
            "X must have full column rank (else the standard optimum is not unique)"
        )
    return (p.X.T * p.X).inv() * p.X.T * p.t


def batchnorm_direction(p: Problem) -> sympy.Matrix:
    """``w_c``: the BatchNorm optima are exactly its non-zero multiples."""
    px = p.centering * p.X
    if px.rank() < p.X.shape[1]:
        raise InvalidArgumentError(
            "P X must have full column rank (else the BatchNorm optima form a larger set)"
        )
    w_c = (px.T * px).inv() * p.X.T * p.centering * p.t
    if w_c.is_zero_matrix:
        raise InvalidArgumentError("X^T P t = 0: every w is a BatchNorm optimum")
    return w_c


def batchnorm_loss_at_best_affine(p: Problem, w: sympy.Matrix) -> sympy.Expr:
    r""":math:`\min_{\gamma,\beta}\|\gamma\,PXw/\|PXw\| + \beta\mathbf 1 - t\|^2
    = \|Pt\|^2 - \langle PXw,Pt\rangle^2/\|PXw\|^2`."""
    pxw, pt = p.centering * p.X * w, p.centering * p.t
    return (pt.T * pt)[0] - ((pxw.T * pt)[0]) ** 2 / (pxw.T * pxw)[0]


def evaluate(p: Problem) -> dict[str, Any]:
    """Both sides of the lemma on ``p``, exactly."""
    w_star = standard_optimum(p)
    w_c = batchnorm_direction(p)
    inner = lambda a, b: (a.T * b)[0]  # noqa: E731
    w_hat = w_c * inner(p.W0, w_c) / inner(w_c, w_c)  # projection of W0 onto the line
    lhs = inner(p.W0 - w_hat, p.W0 - w_hat)
    s = inner(w_star, w_star)
    rhs = inner(p.W0 - w_star, p.W0 - w_star) - (s - inner(w_star, p.W0)) ** 2 / s
    applicable = inner(p.W0, w_star) > 0 and inner(p.W0, w_c) != 0
    # lhs and rhs are exact rationals already.  (sympy.nsimplify, once applied here, is a
    # numerical guess: it turned 1682/3445 into a product of fractional powers of 2, 3, 5, 7.)
    return {
        "W_star": w_star,
        "w_c": w_c,
        "W_hat_star": w_hat,
        "lhs": lhs,
        "rhs": rhs,
        "applicable": bool(applicable),
        "violated": bool(applicable and lhs > rhs),
    }


def to_json(p: Problem, ev: dict[str, Any]) -> dict[str, Any]:
    """A problem and its evaluation as JSON (exact numbers as strings)."""

    def mat(a: sympy.Matrix) -> list:
        return [[str(v) for v in row] for row in a.tolist()]

    def vec(a: sympy.Matrix) -> list:
        return [str(v) for v in a]

    return {
        "X": mat(p.X),
        "t": vec(p.t),
        "W0": vec(p.W0),
        "W_star": vec(ev["W_star"]),
        "w_c": vec(ev["w_c"]),
        "W_hat_star": vec(ev["W_hat_star"]),
        "lhs": str(ev["lhs"]),
        "rhs": str(ev["rhs"]),
        "lhs_float": float(ev["lhs"]),
        "rhs_float": float(ev["rhs"]),
    }


def from_json(ce: dict[str, Any]) -> Problem:
    """The problem of a counterexample record (exact rationals from their strings)."""
    mat = lambda rows: sympy.Matrix([[sympy.Rational(v) for v in r] for r in rows])  # noqa: E731
    vec = lambda xs: sympy.Matrix([sympy.Rational(v) for v in xs])  # noqa: E731
    return Problem(mat(ce["X"]), vec(ce["t"]), vec(ce["W0"]))


def random_problem(rng: random.Random, m: int = 3, d: int = 2, centered: bool = False) -> Problem:
    """Small integer inputs and targets, ``W0 = W*`` plus a small integer offset."""
    while True:
        X = sympy.Matrix(m, d, lambda i, j: rng.randint(-3, 3))
        if centered:
            X = X - sympy.ones(m, 1) * (sympy.ones(1, m) * X) / m
        t = sympy.Matrix(m, 1, lambda i, j: rng.randint(-3, 3))
        p0 = Problem(X, t, sympy.zeros(d, 1))
        try:
            w_star = standard_optimum(p0)
            batchnorm_direction(p0)
        except InvalidArgumentError:
            continue
        if w_star.is_zero_matrix:
            continue
        W0 = w_star + sympy.Matrix(d, 1, lambda i, j: sympy.Rational(rng.randint(-2, 2), 4))
        return Problem(X, t, W0)


def settle(problems: int = 200, seed: int = 0, centered: bool = False) -> dict[str, Any]:
    """Scan seeded random problems; the verdict and the first counterexample (exact)."""
    rng = random.Random(seed)
    checked = violated = 0
    first = None
    max_gap = None  # largest (rhs - lhs) / (|lhs| + |rhs|) over applicable problems
    for _ in range(problems):
        p = random_problem(rng, centered=centered)
        ev = evaluate(p)
        if not ev["applicable"]:
            continue
        checked += 1
        scale = abs(ev["lhs"]) + abs(ev["rhs"])
        gap = float((ev["rhs"] - ev["lhs"]) / scale) if scale else 0.0
        max_gap = gap if max_gap is None else max(max_gap, gap)
        if ev["violated"]:
            violated += 1
            if first is None:
                first = (p, ev)
    out: dict[str, Any] = {"problems": checked, "violated": violated, "max_slack": max_gap}
    if first is not None:
        p, ev = first
        again = evaluate(
            Problem(sympy.Matrix(p.X), sympy.Matrix(p.t), sympy.Matrix(p.W0))
        )  # re-check
        if not again["violated"] or again["lhs"] != ev["lhs"]:
            raise AssertionError("the Lemma 4.5 counterexample does not re-check")
        out["counterexample"] = to_json(p, ev)
    return out
