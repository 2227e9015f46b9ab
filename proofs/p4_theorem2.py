"""(d) Theorem 2: the exact second-order term along the gradient, eps = 0 and eps > 0."""

import sympy

from bntheory.symbolic import general as G
from bntheory.symbolic.proof import Proof


def ghat_vector() -> G.Vec:
    return G.contract(G.jacobian_closed_form(), {"i": G.G}, free="k")


def jacobian_times(vec: G.Vec) -> G.Vec:
    r"""$(J v)_i = \sum_l J_{il} v_l$ (the proved $J$ with its second index renamed to $l$)."""
    j_il = G.jacobian_closed_form().subs({G.d("i", "k"): G.d("i", "l"), G.yhat["k"]: G.yhat["l"]})
    return G.contract(j_il, {"l": vec}, free="i")


def parts() -> tuple[sympy.Expr, sympy.Expr, G.Vec]:
    r"""$((J\hat g)^\top H (J\hat g),\ \sum_{ikl} g_i T_{ikl}\hat g_k\hat g_l,\ \hat g)$."""
    gh = ghat_vector()
    quad = jacobian_times(gh).quad(jacobian_times(gh))
    curv = G.contract(G.second_derivative_closed_form(), {"i": G.G, "k": gh, "l": gh})
    return quad, curv, gh


def build() -> Proof:
    p = Proof(
        id="theorem2",
        title="(d) Theorem 2: the exact value of the quadratic form along the gradient",
        claim=r"With $\hat H = \nabla^2_y\hat{\mathcal L}$, $H = \nabla^2_z\mathcal L$: "
        r"$\hat g^\top\hat H\hat g = (J\hat g)^\top H (J\hat g) + \sum_{ikl} g_i "
        r"T_{ikl}\hat g_k\hat g_l$. For $\varepsilon = 0$: $J\hat g = \frac{\gamma}{\sigma}\hat g$ "
        r"and $\hat g^\top\hat H\hat g = \frac{\gamma^2}{\sigma^2}\hat g^\top H\hat g - "
        r"\frac{\gamma}{m\sigma^2}\langle g,\hat y\rangle\|\hat g\|^2$ exactly (the paper's first "
        r"form holds with equality). For $\varepsilon > 0$ both terms change by multiples of "
        r"$(1-\rho)\langle g,\hat y\rangle$, given below.",
        assumptions=[
            r"$\mathrm{var} > 0$",
            r"$\varepsilon \ge 0$",
            r"$\mathcal L$ twice differentiable at $z$",
        ],
    )
    p.check(
        r"Second-order chain rule $\hat H = J^\top H J + \sum_i g_i \nabla^2 z_i$, checked with "
        r"explicit $m = 3$ and a symbolic quadratic loss "
        r"$\mathcal L(z) = c^\top z + \frac12 z^\top S z$",
        _chain_rule_explicit,
    )
    quad, curv, gh = parts()
    n2 = gh.dot(gh)
    p.eq(
        r"$\langle \hat y, \hat g\rangle = \frac{\gamma}{\sigma}(1-\rho)\langle g,\hat y\rangle$: "
        r"zero when $\varepsilon = 0$",
        gh.dot(G.YHAT),
        G.gamma / G.sigma * (1 - G.rho) * G.g_yhat,
    )
    p.eq(r"$\langle \mathbf 1, \hat g\rangle = 0$ for every $\varepsilon$", gh.dot(G.ONE), 0)
    jg = jacobian_times(gh)
    expected = gh.scale(G.gamma / G.sigma) - G.YHAT.scale(
        G.gamma / (G.m * G.sigma) * gh.dot(G.YHAT)
    )
    for basis in G.BASIS:
        p.eq(
            r"Hence $J\hat g = \frac{\gamma}{\sigma}\big(\hat g - "
            r"\frac1m\hat y\langle\hat y,\hat g\rangle\big)$ "
            rf"($= \frac{{\gamma}}{{\sigma}}\hat g$ when $\varepsilon = 0$); component along "
            rf"${G.BASIS_LATEX[basis]}$",
            jg.c.get(basis, 0),
            expected.c.get(basis, 0),
        )
    paper_first = G.gamma**2 / G.sigma**2 * gh.quad(gh)
    paper_second = -G.gamma / (G.m * G.sigma**2) * G.g_yhat * n2
    p.eq(
        r"$\varepsilon = 0$: first term "
        r"$(J\hat g)^\top H(J\hat g) = \frac{\gamma^2}{\sigma^2}\hat g^\top H\hat g$",
        quad.subs(G.rho, 1),
        paper_first.subs(G.rho, 1),
    )
    p.eq(
        r"$\varepsilon = 0$: curvature term $\sum g_i T_{ikl}\hat g_k\hat g_l = "
        r"-\frac{\gamma}{m\sigma^2}\langle g,\hat y\rangle\|\hat g\|^2$",
        curv.subs(G.rho, 1),
        paper_second.subs(G.rho, 1),
    )
    p.eq(
        r"$\varepsilon \ge 0$: exact first term, with the correction proportional to $1-\rho$",
        quad,
        paper_first + first_correction(),
    )
    p.eq(
        r"$\varepsilon \ge 0$: exact curvature term, with the correction proportional to $1-\rho$",
        curv,
        paper_second + curvature_correction(),
    )
    return p


def first_correction() -> sympy.Expr:
    r"""$(J\hat g)^\top H (J\hat g) - \frac{\gamma^2}{\sigma^2}\hat g^\top H\hat g$.

    For every $\varepsilon \ge 0$ (it vanishes at $\varepsilon = 0$, where $\rho = 1$).
    """
    gy, g1 = G.g_yhat, G.g_one
    Hyy, H1y, Hgy = G.h_symbol("yhat", "yhat"), G.h_symbol("1", "yhat"), G.h_symbol("g", "yhat")
    return (
        G.gamma**4
        * gy
        * (G.rho - 1)
        / (G.m**2 * G.sigma**4)
        * (Hyy * gy * G.rho - 3 * Hyy * gy - 2 * H1y * g1 + 2 * Hgy * G.m)
    )


def curvature_correction() -> sympy.Expr:
    r"""$\sum g_i T_{ikl}\hat g_k\hat g_l
    + \frac{\gamma}{m\sigma^2}\langle g,\hat y\rangle\|\hat g\|^2$.

    For every $\varepsilon \ge 0$ (it vanishes at $\varepsilon = 0$, where $\rho = 1$).
    """
    gy, g1 = G.g_yhat, G.g_one
    return (
        G.gamma**3
        * gy
        * (G.rho - 1)
        / (G.m**2 * G.sigma**4)
        * (2 * G.g_sq * G.m - 2 * g1**2 + (3 * G.rho - 5) * gy**2)
    )


def _chain_rule_explicit() -> tuple[bool, str]:
    from bntheory.symbolic import explicit

    m = 3
    z, sym = explicit.forward("batchnorm", m, 0)
    c = sympy.Matrix(sympy.symbols(f"c0:{m}", real=True))
    s = sympy.Matrix(m, m, lambda i, j: sympy.Symbol(f"s{min(i, j)}{max(i, j)}", real=True))
    zz = sympy.Matrix(z)
    loss = (c.T * zz)[0] + (zz.T * s * zz)[0] / 2
    ys = sympy.Matrix(sym.y)
    point = {
        sym.y[0]: 1,
        sym.y[1]: 3,
        sym.y[2]: 7,
        sym.gamma: sympy.Rational(3, 2),
        sym.beta: sympy.Rational(1, 5),
    }
    direct = sympy.hessian(loss, sym.y).subs(point)
    J = zz.jacobian(ys)
    g = c + s * zz
    curvature = sum((g[i] * sympy.hessian(zz[i], sym.y) for i in range(m)), sympy.zeros(m, m))
    via_chain = (J.T * s * J + curvature).subs(point)
    diff = (direct - via_chain).applyfunc(sympy.simplify)
    return diff == sympy.zeros(
        m, m
    ), "difference simplifies to the zero matrix" if diff == sympy.zeros(m, m) else f"{diff}"
