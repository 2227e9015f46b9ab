"""Cross-checks of general-``m`` results against explicit-``m`` expansions.

A general-``m`` formula is accepted only after it agrees with SymPy's explicit
differentiation for concrete ``m``: symbolically (the difference simplifies to zero) for
small ``m``, and at random rational points in 60-digit arithmetic (mpmath) up to ``m = 8``.
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import mpmath
import sympy

from bntheory.symbolic import explicit, general

DIGITS = 60


def _point(m_value: int, rng: random.Random) -> tuple[list[Fraction], Fraction]:
    while True:
        ys = [Fraction(rng.randint(-50, 50), rng.randint(1, 9)) for _ in range(m_value)]
        if len(set(ys)) > 1:
            return ys, Fraction(rng.choice([-3, -1, 1, 2, 5]), rng.randint(1, 4))


def compare_with_explicit(
    what: str, m_value: int, eps_value, seed: int = 0, points: int = 2
) -> float:
    """Largest relative discrepancy between the general-``m`` closed form of ``what``
    (``"jacobian"`` or ``"hessian"``) and the explicit-``m`` SymPy derivative, at random
    rational points, evaluated in 60-digit arithmetic."""
    rng = random.Random(seed * 1000 + m_value)
    fn = explicit.jacobian if what == "jacobian" else explicit.hessian
    exp = fn("batchnorm", m_value, eps_value)
    sym = explicit.group_symbols(m_value, eps_value)
    args = list(sym.y) + [sym.gamma]
    f_explicit = explicit.lambdify_mpmath(args, exp.tolist())
    closed = (
        general.jacobian_closed_form()
        if what == "jacobian"
        else general.second_derivative_closed_form()
    )
    order = 2 if what == "jacobian" else 3
    deltas = [general.delta[frozenset(p)] for p in (("i", "k"), ("i", "l"), ("k", "l"))]
    params = (
        [general.gamma, general.sigma, general.m]
        + [general.yhat[a] for a in general.INDICES]
        + deltas
    )
    f_closed = explicit.lambdify_mpmath(params, closed, dummify=True)
    eps_q = sympy.Rational(eps_value)
    worst = mpmath.mpf(0)
    with mpmath.workdps(DIGITS):
        for _ in range(points):
            ys, gamma_v = _point(m_value, rng)
            yv = [mpmath.mpf(t.numerator) / t.denominator for t in ys]
            gv = mpmath.mpf(gamma_v.numerator) / gamma_v.denominator
            muv = sum(yv) / m_value
            varv = sum((t - muv) ** 2 for t in yv) / m_value
            sig = mpmath.sqrt(varv + mpmath.mpf(eps_q.p) / eps_q.q)
            yh = [(t - muv) / sig for t in yv]
            got = f_explicit(*yv, gv)
            scale, diff = mpmath.mpf(0), mpmath.mpf(0)
            for idx in itertools.product(range(m_value), repeat=order):
                i, k, j = (idx + (0,))[:3]  # the closed form's indices i, k, l
                val = f_closed(
                    gv,
                    sig,
                    mpmath.mpf(m_value),
                    yh[i],
                    yh[k],
                    yh[j],
                    int(i == k),
                    int(i == j),
                    int(k == j),
                )
                ref = got[i][k] if order == 2 else got[i][k][j]
                scale, diff = max(scale, abs(ref)), max(diff, abs(ref - val))
            # the natural size |gamma|/sigma^(order-1) floors the scale: at m = 2 BatchNorm is
            # constant (+-gamma) and its derivatives vanish, so max|entry| is pure rounding
            natural = abs(gv) / sig ** (order - 1)
            worst = max(worst, diff / max(scale, natural))
    return float(worst)
