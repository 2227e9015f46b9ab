r"""Gaussian integrals of the mean-field recursions of BatchNorm networks (SymPy).

At large width and batch a BatchNorm layer standardizes each feature over the batch, so its
output :math:`z` is standard Gaussian and the next pre-activation's batch variance is
:math:`\mathrm{Var}[\phi(z)]`.  The backward pass multiplies the squared gradient norm by
:math:`E[\phi'(z)^2]` (the activation), then :math:`1/\sigma^2 = 1/\mathrm{Var}[\phi(z)]`
(BatchNorm's Jacobian, whose projection is the identity as the batch grows) and 1 on average
(the Gaussian weights), so the squared gradient norm grows per layer going backwards by

.. math::
    \lambda_\phi = \frac{E[\phi'(z)^2]}{\mathrm{Var}[\phi(z)]},\qquad z\sim N(0, 1),

which is :math:`\pi/(\pi-1)` for ReLU (Yang et al., ICLR 2019) and 1 for linear units.  For
linear units at a finite batch :math:`B` the same argument keeps two corrections exactly:
the projection removes 2 of the :math:`B - 1` directions orthogonal to :math:`\mathbf 1`, and
:math:`\sigma^2\sim\chi^2_{B-1}/(B-1)` gives :math:`E[1/\sigma^2] = (B-1)/(B-3)`, so
:math:`\lambda = (B-2)/(B-3)` (a heuristic: it treats the gradient's direction as independent
of the batch statistics).
"""

from __future__ import annotations

import sympy

z = sympy.Symbol("z", real=True)
B = sympy.Symbol("B", positive=True)

#: The activations as SymPy expressions (ReLU as a Heaviside product).
ACTIVATIONS = {
    "linear": z,
    "relu": z * sympy.Heaviside(z),
    "tanh": sympy.tanh(z),
}
#: Activations whose Gaussian integrals have no closed form: they stay unevaluated
#: ``Integral`` objects, which ``evalf`` computes by quadrature (mpmath).
NO_CLOSED_FORM = ("tanh",)


def gaussian_expectation(expr: sympy.Expr, closed: bool = True) -> sympy.Expr:
    r"""``E[expr(z)]`` for :math:`z\sim N(0, 1)`: SymPy's integral, split at 0 so that the
    Heaviside factor of ReLU becomes a range; ``closed=False`` leaves the integrals
    unevaluated (for quadrature)."""
    density = sympy.exp(-(z**2) / 2) / sympy.sqrt(2 * sympy.pi)
    parts = [
        sympy.Integral((expr * density).subs(sympy.Heaviside(z), 1), (z, 0, sympy.oo)),
        sympy.Integral((expr * density).subs(sympy.Heaviside(z), 0), (z, -sympy.oo, 0)),
    ]
    if not closed:
        return parts[0] + parts[1]
    return sympy.simplify(sum(p.doit() for p in parts))


def derivative(name: str) -> sympy.Expr:
    """``phi'(z)`` of an activation (``Heaviside(z)`` for ReLU)."""
    phi = ACTIVATIONS[name]
    if name == "relu":
        return sympy.Heaviside(z)
    return sympy.diff(phi, z)


def moments(name: str) -> dict[str, sympy.Expr]:
    r"""``E[phi'^2]``, ``E[phi]``, ``E[phi^2]`` and ``Var[phi]`` at :math:`z\sim N(0,1)`."""
    phi = ACTIVATIONS[name]
    d2 = derivative(name) ** 2
    if name == "relu":
        d2 = sympy.Heaviside(z)  # Heaviside^2 = Heaviside
    closed = name not in NO_CLOSED_FORM
    e1, e2 = gaussian_expectation(phi, closed), gaussian_expectation(phi**2, closed)
    var = e2 - e1**2
    return {
        "E[phi'^2]": gaussian_expectation(d2, closed),
        "E[phi]": e1,
        "E[phi^2]": e2,
        "Var[phi]": sympy.simplify(var) if closed else var,
    }


def explosion_rate(name: str) -> sympy.Expr:
    r"""The large-batch rate :math:`\lambda_\phi = E[\phi'^2]/\mathrm{Var}[\phi]` (exact where
    SymPy integrates in closed form, an unevaluated integral otherwise: call ``evalf``)."""
    m = moments(name)
    ratio = m["E[phi'^2]"] / m["Var[phi]"]
    return sympy.simplify(ratio) if name not in NO_CLOSED_FORM else ratio


def linear_rate_finite_batch() -> sympy.Expr:
    r"""The linear network's rate at batch :math:`B`: :math:`(B-2)/(B-3)` (see the module)."""
    projection = (B - 2) / (B - 1)  # E ||P g||^2 / ||g||^2 on the (B-1)-dim space
    inverse_variance = (B - 1) / (B - 3)  # E[(B-1)/chi^2_(B-1)]
    return sympy.simplify(projection * inverse_variance)


def rate_value(name: str) -> float:
    """:func:`explosion_rate` as a float: the closed form where SymPy has one, else the same
    Gaussian integrals by ``scipy.integrate.quad`` of the lambdified integrands (SymPy's own
    ``evalf`` of them takes a minute)."""
    if name not in NO_CLOSED_FORM:
        return float(sympy.N(explosion_rate(name)))
    import math

    from scipy.integrate import quad

    density = sympy.exp(-(z**2) / 2) / sympy.sqrt(2 * sympy.pi)
    phi = ACTIVATIONS[name]

    def expect(expr: sympy.Expr) -> float:
        f = sympy.lambdify(z, expr * density, "math")
        return quad(f, -math.inf, math.inf, epsabs=1e-14, epsrel=1e-13)[0]

    e1, e2, d2 = expect(phi), expect(phi**2), expect(derivative(name) ** 2)
    return d2 / (e2 - e1 * e1)
