"""A layer's symbolic forward and its SymPy derivatives, evaluated at 50 digits, against the
layer's torch forward and closed forms (or autograd fallbacks).

For ``m`` = 2, 3, 4 and each parameter setting the layer accepts (``gamma = 1, beta = 0,
eps = 0``; ``gamma``, ``beta`` of both signs, and ``beta = 0``, with ``eps = 1/10``), a random
group ``y`` of
distinct rationals (no ties, no zero centered values: the lp layers' ``Abs`` and ``Max`` are
smooth there) is evaluated exactly: the forward :math:`z`, the Jacobian :math:`J` and the
second derivative :math:`T_{ikl}` by SymPy (:mod:`bntheory.symbolic.explicit`), lambdified to
mpmath.  The layer, given the same group through :meth:`Normalization.symbolic_input`, must
agree under the error model: ``forward`` with :math:`z`, ``jvp`` with :math:`Jv`, ``vjp``
with :math:`J^\\top g`, ``hvp`` with :math:`\\sum_i g_i T_{i\\cdot\\cdot} v`.

A forward with ``Abs``, ``Max`` or ``Min`` (the lp layers) is differentiated on the piece that
is active at the point (:func:`active_piece`): each ``Abs(e)`` becomes ``e`` or ``-e`` by the
exact sign of ``e`` there, each ``Max``/``Min`` its exactly largest/smallest argument.  Where
that choice is strict it holds on a neighbourhood of the point, so the piece equals the
forward there and every derivative of it is the forward's, exactly; where it is not (a
centered value of zero, a tie between different arguments) the layer is not differentiable
at the point and the case is skipped.  Differentiating the whole forward instead gives
``Heaviside``/``DiracDelta`` expressions thousands of operations long that evaluate to the
same numbers far more slowly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import sympy
import torch

from bntheory.norms import Normalization
from bntheory.symbolic import explicit
from bntheory.verify.compare import compare

DIGITS = 50
SIZES = (2, 3, 4)
SETTINGS: tuple[tuple[Fraction, Fraction, Fraction], ...] = (
    (Fraction(1), Fraction(0), Fraction(0)),
    (Fraction(3, 2), Fraction(-1, 3), Fraction(1, 10)),
    (Fraction(-2), Fraction(1, 2), Fraction(1, 10)),
    (Fraction(-2), Fraction(0), Fraction(1, 10)),  # for layers without a bias (RMSNorm)
)


def _undefined(name: str):
    def f(x, *args):
        if x == 0:
            raise ZeroDivisionError(f"{name}(0): the layer is not differentiable at this point")
        return mpmath.mpf(0) if name == "DiracDelta" else mpmath.mpf(int(x > 0))

    return f


#: mpmath has no DiracDelta or Heaviside: where SymPy's derivatives of a user's non-smooth
#: forward need them they are evaluated off their singular point (0 and 1 or 0), which the
#: points avoid.
FUNCTIONS = {
    "DiracDelta": _undefined("DiracDelta"),
    "Heaviside": _undefined("Heaviside"),
    "sign": mpmath.sign,
}


@dataclass
class SymbolicResult:
    """The comparison of one operation with its symbolic reference at one setting."""

    op: str
    m: int
    setting: tuple[float, float, float]
    max_ratio: float
    ok: bool
    detail: str = ""


def _point(m: int, rng: random.Random) -> list[Fraction]:
    """``m`` distinct rationals whose centered values have distinct, nonzero magnitudes (for
    ``m = 2`` the two magnitudes are always equal)."""
    while True:
        ys = [Fraction(rng.randint(-60, 60), rng.randint(1, 7)) for _ in range(m)]
        mu = sum(ys) / m
        mags = [abs(y - mu) for y in ys]
        if (
            len(set(ys)) == m
            and 0 not in mags
            and len(set(mags)) == min(m, len(set(mags)))
            and (m == 2 or len(set(mags)) == m)
        ):
            return ys


class NotDifferentiableHere(ValueError):
    """The forward's ``Abs``/``Max``/``Min`` has no strict choice at the point."""


def active_piece(expr: sympy.Expr, point: dict) -> sympy.Expr:
    """``expr`` with every ``Abs``, ``Max`` and ``Min`` replaced by its branch at ``point``
    (exact values for every free symbol), innermost first.  Raises
    :class:`NotDifferentiableHere` for ``Abs`` of zero or a tie between arguments that differ
    as functions (a tie between equal ones, such as ``|a|`` and ``|-a|``, is no tie)."""
    if not expr.args:
        return expr
    args = [active_piece(a, point) for a in expr.args]
    if isinstance(expr, sympy.Abs):
        value = args[0].subs(point)
        if value == 0:
            raise NotDifferentiableHere(f"Abs({args[0]}) at 0")
        return args[0] if value > 0 else -args[0]
    if isinstance(expr, (sympy.Max, sympy.Min)):
        values = [a.subs(point) for a in args]
        best = max(values) if isinstance(expr, sympy.Max) else min(values)
        winners = [a for a, val in zip(args, values) if val == best]
        if any(sympy.expand(w - winners[0]) != 0 for w in winners[1:]):
            raise NotDifferentiableHere(f"{expr.func.__name__} with a tie between {winners}")
        return winners[0]
    return expr.func(*args) if any(a is not b for a, b in zip(args, expr.args)) else expr


#: Lambdified derivatives by ``(id(layer), m, eps, active piece)``, each entry holding its
#: layer so that the id cannot be reused while the entry lives.  Deriving and lambdifying is
#: the slow part of a check; the points it is evaluated at are not cached, so a repeated check
#: still compares the layer anew.
_EVALUATORS: dict[tuple, tuple[Normalization, object]] = {}


def _evaluator(
    layer: Normalization, m: int, eps: Fraction, y: list[Fraction], gamma: Fraction, beta: Fraction
):
    """The forward, Jacobian and second derivative of ``layer`` itself (not of whatever the
    registry holds under its name) on its piece active at ``y`` (with ``gamma``, ``beta``),
    lambdified to mpmath."""
    sym = explicit.group_symbols(m, sympy.Rational(eps.numerator, eps.denominator))
    rat = lambda q: sympy.Rational(q.numerator, q.denominator)  # noqa: E731
    point = {**{s: rat(t) for s, t in zip(sym.y, y)}, sym.gamma: rat(gamma), sym.beta: rat(beta)}
    z = tuple(
        active_piece(sympy.sympify(zi), point) for zi in layer.symbolic(list(sym.y), sym.params)
    )
    key = (id(layer), m, eps, z)
    if key not in _EVALUATORS:
        jac, hess = explicit.jacobian_of(list(z), sym), explicit.hessian_of(list(z), sym)
        _EVALUATORS[key] = (
            layer,
            explicit.lambdify_mpmath(
                list(sym.y) + [sym.gamma, sym.beta],
                [list(z), jac.tolist(), hess.tolist()],
                [FUNCTIONS],
            ),
        )
    return _EVALUATORS[key][1]


def check_symbolic(
    layer: Normalization,
    seed: int = 0,
    device: str | torch.device = "cpu",
    sizes: tuple[int, ...] = SIZES,
) -> list[SymbolicResult]:
    """Every comparison above; a layer without a symbolic forward gives an empty list."""
    if not layer.has_symbolic():
        return []
    rng = random.Random(seed)
    out: list[SymbolicResult] = []
    skipped: list[tuple] = []
    for m in sizes:
        for gamma, beta, eps in SETTINGS:
            y = _point(m, rng)
            y64 = torch.tensor([float(t) for t in y], dtype=torch.float64, device=device)
            call = layer.symbolic_input(y64, float(gamma), float(beta), float(eps))
            if call is None:
                continue
            x, kw = call
            mp = lambda q: mpmath.mpf(q.numerator) / q.denominator  # noqa: E731
            try:
                evaluate = _evaluator(layer, m, eps, y, gamma, beta)
                with mpmath.workdps(DIGITS):
                    z, jac, hess = evaluate(*[mp(t) for t in y], mp(gamma), mp(beta))
            except (NotDifferentiableHere, ZeroDivisionError):  # not differentiable at this point
                skipped.append((m, float(gamma), float(beta), float(eps)))
                continue
            gv = [Fraction(rng.randint(-9, 9), rng.randint(1, 4)) for _ in range(2 * m)]
            g, v = gv[:m], gv[m:]
            exact = {
                "forward": [float(t) for t in z],
                "jvp": [float(sum(jac[i][k] * mp(v[k]) for k in range(m))) for i in range(m)],
                "vjp": [float(sum(jac[i][k] * mp(g[i]) for i in range(m))) for k in range(m)],
                "hvp": [
                    float(
                        sum(mp(g[i]) * hess[i][k][j] * mp(v[j]) for i in range(m) for j in range(m))
                    )
                    for k in range(m)
                ],
            }
            shaped = lambda vals, x=x: torch.tensor(
                [float(t) for t in vals],
                dtype=torch.float64,  # noqa: E731
                device=device,
            ).reshape(x.shape)
            gt, vt = shaped(g), shaped(v)
            ours = {
                "forward": layer.stateless_forward(x, **kw),
                "jvp": layer.jvp(x, vt, **kw),
                "vjp": layer.vjp(x, gt, **kw),
                "hvp": layer.hvp(x, gt, vt, **kw),
            }
            for op, ref in exact.items():
                cmp = compare(layer, op, x, ours[op], shaped(ref), (), kw, g=gt, v=vt)
                out.append(
                    SymbolicResult(
                        op,
                        m,
                        (float(gamma), float(beta), float(eps)),
                        cmp.max_ratio,
                        cmp.ok,
                        f"y={[str(t) for t in y]}, g={[str(t) for t in g]}, "
                        f"v={[str(t) for t in v]}",
                    )
                )
    return out
