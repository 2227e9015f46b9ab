"""(c) Theorem 1: the exact squared norm of the BatchNorm gradient, eps = 0 and eps > 0."""

import sympy

from bntheory.symbolic import general as G
from bntheory.symbolic.proof import Proof


def ghat_vector() -> G.Vec:
    r"""$\hat g = J^\top g$, contracting the (proved) closed-form Jacobian with $g$."""
    return G.contract(G.jacobian_closed_form(), {"i": G.G}, free="k")


def exact_norm_sq(rho=G.rho) -> sympy.Expr:
    r"""Theorem 1's exact squared gradient norm, for any $\rho$ (default the symbol).

    $\|\hat g\|^2 = \frac{\gamma^2}{\sigma^2}\big(\|g\|^2 - \frac1m\langle\mathbf 1,g\rangle^2
    - \frac{2-\rho}{m}\langle g,\hat y\rangle^2\big)$.
    """
    return G.gamma**2 / G.sigma**2 * (G.g_sq - G.g_one**2 / G.m - (2 - rho) * G.g_yhat**2 / G.m)


def build() -> Proof:
    p = Proof(
        id="theorem1",
        title="(c) Theorem 1: the exact value of the gradient norm",
        claim=r"With $\hat g = \nabla_y \hat{\mathcal L}$ and $g = \nabla_z \mathcal L$ at "
        r"$z = \mathrm{BN}(y)$, $\rho = \mathrm{var}/(\mathrm{var}+\varepsilon) = \|\hat y\|^2/m$: "
        r"$\|\hat g\|^2 = \frac{\gamma^2}{\sigma^2}\Big(\|g\|^2 - "
        r"\frac1m\langle\mathbf 1,g\rangle^2 - \frac{2-\rho}{m}\langle g,\hat y\rangle^2\Big)$. "
        r"For $\varepsilon = 0$ ($\rho = 1$) this is "
        r"$\frac{\gamma^2}{\sigma^2}\big(\|g\|^2 - \frac1m\langle\mathbf 1,g\rangle^2 - "
        r"\frac1m\langle g,\hat y\rangle^2\big)$ with equality; for $\varepsilon > 0$ the last "
        r"coefficient $(2-\rho)/m$ exceeds $1/m$.",
        assumptions=[r"$\mathrm{var} > 0$", r"$\varepsilon \ge 0$"],
    )
    p.define(r"ratio of variances", G.rho, G.var / (G.var + G.eps))
    p.check(
        r"Gram entries of the batch-vector algebra: "
        r"$\langle \hat y, \hat y\rangle = \frac1{\sigma^2}\sum_j (y_j-\mu)^2 = "
        r"\frac{m\,\mathrm{var}}{\mathrm{var}+\varepsilon} = m\rho$ and "
        r"$\langle\mathbf 1,\hat y\rangle = 0$; checked exactly for explicit $m = 2, \dots, 8$ "
        r"with symbolic $y$ and $\varepsilon$",
        _gram_explicit,
    )
    gh = ghat_vector()
    p.eq(
        r"Backward pass: $\hat g_k = \sum_i g_i J_{ik}$ with the proved $J$; its component along "
        r"$g$ is $\gamma/\sigma$",
        gh.c["g"],
        G.gamma / G.sigma,
    )
    p.eq(
        r"... along $\mathbf 1$ it is $-\frac{\gamma}{m\sigma}\langle\mathbf 1, g\rangle$",
        gh.c["1"],
        -G.gamma * G.g_one / (G.m * G.sigma),
    )
    p.eq(
        r"... along $\hat y$ it is $-\frac{\gamma}{m\sigma}\langle g, \hat y\rangle$",
        gh.c["yhat"],
        -G.gamma * G.g_yhat / (G.m * G.sigma),
    )
    p.eq(
        r"Expand $\|\hat g\|^2 = \langle \hat g, \hat g\rangle$ with the Gram entries",
        gh.dot(gh),
        exact_norm_sq(),
    )
    p.eq(
        r"$\varepsilon = 0$: $\rho = 1$ gives the paper's three terms with coefficient $1/m$, with "
        r"equality",
        exact_norm_sq(1),
        G.gamma**2 / G.sigma**2 * (G.g_sq - G.g_one**2 / G.m - G.g_yhat**2 / G.m),
    )
    p.le(
        r"$\varepsilon \ge 0$: the $\varepsilon = 0$ expression is an upper bound, the gap being "
        r"$\frac{\gamma^2}{\sigma^2}\frac{1-\rho}{m}\langle g,\hat y\rangle^2 \ge 0$ since "
        r"$\rho = \frac{\mathrm{var}}{\mathrm{var}+\varepsilon} \le 1$",
        exact_norm_sq().subs(G.rho, G.var / (G.var + G.eps)),
        G.gamma**2 / G.sigma**2 * (G.g_sq - G.g_one**2 / G.m - G.g_yhat**2 / G.m),
        G.gamma**2 / G.sigma**2 * G.eps / (G.var + G.eps) * G.g_yhat**2 / G.m,
    )
    return p


def _gram_explicit() -> tuple[bool, str]:
    eps = sympy.Symbol("eps", positive=True)
    for m in range(2, 9):
        ys = sympy.symbols(f"y0:{m}", real=True)
        mu = sum(ys) / m
        var = sum((t - mu) ** 2 for t in ys) / m
        yhat = [(t - mu) / sympy.sqrt(var + eps) for t in ys]
        if sympy.cancel(sum(t**2 for t in yhat) - m * var / (var + eps)) != 0:
            return False, f"<yhat, yhat> != m rho at m={m}"
        if sympy.simplify(sum(yhat)) != 0:
            return False, f"<1, yhat> != 0 at m={m}"
    return True, "m = 2..8: both identities hold exactly"
