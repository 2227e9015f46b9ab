"""Lemma 4.5 settled exactly on single-neuron problems."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch
from scipy.optimize import minimize

from bntheory.errors import InvalidArgumentError
from bntheory.theorems.lemma45 import (
    Problem,
    batchnorm_direction,
    batchnorm_loss_at_best_affine,
    evaluate,
    settle,
    standard_optimum,
)

X = sympy.Matrix([[3, 3], [-1, 0], [-1, 1]])
T = sympy.Matrix([-2, 1, -2])


def test_a_counterexample_is_exact_and_rechecks():
    p = Problem(X, T, standard_optimum(Problem(X, T, sympy.zeros(2, 1))))  # W0 = W*: the rhs is 0
    ev = evaluate(p)
    assert ev["applicable"] and ev["rhs"] == 0 and ev["lhs"] > 0 and ev["violated"]


def test_both_sides_are_reported_exactly():
    """The sides are the exact rationals of their definitions, not a numerical guess at a
    closed form (sympy.nsimplify turned this rhs, 1682/3445, into fractional powers of primes)."""
    p = Problem(
        sympy.Matrix([[3, -2], [3, 2], [-2, -3]]),
        sympy.Matrix([3, 1, 2]),
        sympy.Matrix([sympy.Rational(365, 338), sympy.Rational(-99, 338)]),
    )
    ev = evaluate(p)
    w_star, w_hat = ev["W_star"], ev["W_hat_star"]
    norm2 = lambda a: (a.T * a)[0]  # noqa: E731
    s = norm2(w_star)
    rhs = norm2(p.W0 - w_star) - (s - (w_star.T * p.W0)[0]) ** 2 / s
    assert ev["lhs"] == norm2(p.W0 - w_hat) and ev["rhs"] == rhs == sympy.Rational(1682, 3445)
    assert isinstance(ev["lhs"], sympy.Rational) and isinstance(ev["rhs"], sympy.Rational)


def test_settle_finds_violations_and_centered_inputs_give_equality():
    general = settle(40, seed=0)
    assert general["violated"] > 0 and "counterexample" in general
    centered = settle(20, seed=1, centered=True)
    assert centered["problems"] > 0 and centered["violated"] == 0 and centered["max_slack"] == 0.0


def test_the_batchnorm_optima_are_the_multiples_of_w_c():
    """Minimise the BatchNorm network's loss over (w, gamma, beta) numerically, eps = 0 and
    eps > 0: the minimum equals the exact value and every minimiser is parallel to w_c."""
    p = Problem(X, T, sympy.zeros(2, 1))
    w_c = np.array([float(v) for v in batchnorm_direction(p)])
    exact_min = float(batchnorm_loss_at_best_affine(p, batchnorm_direction(p)))
    x = torch.tensor(np.array(X.tolist(), dtype=float))
    t = torch.tensor([float(v) for v in T])
    rng = np.random.default_rng(0)
    for eps in (0.0, 1e-3):

        def loss(theta, eps=eps):
            th = torch.tensor(theta, requires_grad=True)
            y = x @ th[:2]
            z = th[2] * (y - y.mean()) / torch.sqrt(y.var(unbiased=False) + eps) + th[3]
            val = ((z - t) ** 2).sum()
            (g,) = torch.autograd.grad(val, th)
            return float(val.detach()), g.numpy()

        for _ in range(3):
            res = minimize(
                loss, rng.normal(size=4), jac=True, method="BFGS", options={"gtol": 1e-10}
            )
            w = res.x[:2]
            assert res.fun == pytest.approx(exact_min, abs=1e-6 if eps else 1e-9)
            cos = abs(w @ w_c) / (np.linalg.norm(w) * np.linalg.norm(w_c))
            assert cos == pytest.approx(1.0, abs=1e-6)


def test_verdict_entries_and_bad_problems():
    from bntheory.claims import get_claim

    claim = get_claim("lemma4.5")
    entries = [claim.verdict(r, "ci") for r in claim.regimes]
    assert [e.regime for e in entries] == ["eps=0", "eps>0"]
    for e in entries:
        ce = e.evidence.counterexample
        assert e.verdict == "refuted" and ce["lhs_float"] > ce["rhs_float"]
        assert claim.judge.recheck(ce) and e.evidence.control["violated"] == 0
    with pytest.raises(InvalidArgumentError, match="full column rank"):
        standard_optimum(Problem(sympy.Matrix([[1, 2], [2, 4], [3, 6]]), T, sympy.zeros(2, 1)))
    with pytest.raises(InvalidArgumentError, match="shapes must be"):
        Problem(X, sympy.Matrix([1, 2]), sympy.zeros(2, 1))
