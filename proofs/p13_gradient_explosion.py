r"""(m) Yang et al. (ICLR 2019): the mean-field rate of gradient explosion under BatchNorm.

At large width and batch, BatchNorm's output is standard Gaussian per feature, the next
pre-activation's batch variance is :math:`\mathrm{Var}[\phi(z)]`, and the squared gradient
norm grows per layer going backwards by :math:`E[\phi'(z)^2]/\mathrm{Var}[\phi(z)]`
(:mod:`bntheory.symbolic.meanfield`).  The Gaussian integrals are SymPy's.
"""

import sympy

from bntheory.symbolic import meanfield as M
from bntheory.symbolic.proof import Proof

z = M.z
k = sympy.Symbol("k", positive=True)
x = sympy.Symbol("x", positive=True)


def build() -> Proof:
    p = Proof(
        id="gradient-explosion",
        title="(m) Gradient explosion at initialization: the rate pi/(pi - 1) for ReLU",
        claim=r"With BatchNorm before the activation $\phi$, Gaussian weights and large width and "
        r"batch, $\|\partial L/\partial h_{l-1}\|^2/\|\partial L/\partial h_l\|^2 \to "
        r"\lambda_\phi = E[\phi'(z)^2]/\mathrm{Var}[\phi(z)]$, $z\sim N(0,1)$: "
        r"$\lambda_{\mathrm{ReLU}} = \pi/(\pi-1)$, $\lambda_{\mathrm{linear}} = 1$; for linear "
        r"units at batch $B$ the same argument gives $(B-2)/(B-3)$.",
        assumptions=[
            r"the mean-field limit: width $\to\infty$, the gradient's direction independent of "
            r"the batch statistics",
            r"weights $N(0, 1/n)$ (any scale: BatchNorm divides it out)",
        ],
    )
    relu = M.moments("relu")
    p.eq(
        r"ReLU: $E[\phi'(z)^2] = P(z > 0) = \tfrac12$",
        relu["E[phi'^2]"],
        sympy.Rational(1, 2),
    )
    p.eq(
        r"ReLU: $E[\phi(z)] = \int_0^\infty z\,\frac{e^{-z^2/2}}{\sqrt{2\pi}}dz = "
        r"\frac1{\sqrt{2\pi}}$",
        relu["E[phi]"],
        1 / sympy.sqrt(2 * sympy.pi),
    )
    p.eq(
        r"ReLU: $E[\phi(z)^2] = \tfrac12 E[z^2] = \tfrac12$", relu["E[phi^2]"], sympy.Rational(1, 2)
    )
    p.eq(
        r"ReLU: $\mathrm{Var}[\phi(z)] = \tfrac12 - \tfrac1{2\pi} = \frac{\pi-1}{2\pi}$",
        relu["Var[phi]"],
        (sympy.pi - 1) / (2 * sympy.pi),
    )
    p.eq(
        r"So $\lambda_{\mathrm{ReLU}} = \frac{1/2}{(\pi-1)/(2\pi)} = \frac{\pi}{\pi-1}$",
        M.explosion_rate("relu"),
        sympy.pi / (sympy.pi - 1),
    )
    p.eq(r"Linear units: $\lambda = E[1]/E[z^2] = 1$", M.explosion_rate("linear"), 1)
    chi2 = x ** (k / 2 - 1) * sympy.exp(-x / 2) / (2 ** (k / 2) * sympy.gamma(k / 2))
    for dof in (5, 9, 33):
        p.eq(
            rf"$E[1/\chi^2_k] = \frac1{{k-2}}$ at $k = {dof}$ (so $E[1/\sigma^2] = "
            r"\frac{B-1}{B-3}$ for $\sigma^2\sim\chi^2_{B-1}/(B-1)$)",
            sympy.integrate(chi2.subs(k, dof) / x, (x, 0, sympy.oo)),
            sympy.Rational(1, dof - 2),
        )
    p.eq(
        r"Linear units at batch $B$: the projection keeps $\frac{B-2}{B-1}$ of a gradient "
        r"orthogonal to $\mathbf 1$, times $E[1/\sigma^2] = \frac{B-1}{B-3}$: "
        r"$\lambda = \frac{B-2}{B-3}\to 1$",
        M.linear_rate_finite_batch(),
        (M.B - 2) / (M.B - 3),
    )
    return p
