r"""(h) LayerNorm, GroupNorm, InstanceNorm and noisy BatchNorm apply BatchNorm's per-group map.

Each of these layers normalizes one group (a sample, a group of channels, an instance, a
channel) by that group's own mean and variance, exactly as BatchNorm normalizes a channel over
its batch.  So Theorems 1 and 2 (proofs (c), (d)) hold per group, with the group's statistics,
once an elementwise :math:`\gamma` is accounted for: it is a diagonal map :math:`D` after the
normalization, :math:`J = DJ_n`, so :math:`\hat g = J_n^\top(\gamma\odot g)`.
"""

import sympy

from bntheory.symbolic import explicit
from bntheory.symbolic import general as G
from bntheory.symbolic.proof import Proof

LAYERS = {
    "layernorm": "LayerNorm",
    "groupnorm": "GroupNorm",
    "instancenorm": "InstanceNorm",
    "noisybatchnorm": "noisy BatchNorm (noise-free map)",
}
FORWARD_M = range(2, 7)

m, sigma, rho = G.m, G.sigma, G.rho
gamma_i = sympy.Symbol(r"\gamma_i", real=True)  # the elementwise scale at the output index i
beta_i = sympy.Symbol(r"\beta_i", real=True)
# Gram entries of g~ = gamma * g (elementwise) and of H~ = D H D, shown as such
gt_sq, gt_one, gt_yhat = sympy.symbols(
    r"\|\tilde{g}\|^2 \langle\mathbf{1}\,\tilde{g}\rangle \langle\tilde{g}\,\hat{y}\rangle",
    real=True,
)
TILDE = {G.g_sq: gt_sq, G.g_one: gt_one, G.g_yhat: gt_yhat}
_NAMES = {"1": r"\mathbf{1}", "yhat": r"\hat{y}", "g": r"\tilde{g}"}
for _a in G.BASIS:
    for _b in G.BASIS:
        _x, _y = sorted((_a, _b))
        TILDE[G.h_symbol(_a, _b)] = sympy.Symbol(
            rf"\langle {_NAMES[_x]}\,\tilde{{H}}{_NAMES[_y]}\rangle", real=True
        )


def tilde(expr: sympy.Expr) -> sympy.Expr:
    r"""Read the basis vector $g$ as $\tilde g = \gamma\odot g$ and $H$ as $\tilde H = DHD$."""
    return sympy.sympify(expr).subs(TILDE, simultaneous=True)


def jn() -> sympy.Expr:
    r"""The normalization's Jacobian $J_n$ ($\gamma = 1$)."""
    return G.jacobian_closed_form().subs(G.gamma, 1)


def tn() -> sympy.Expr:
    return G.second_derivative_closed_form().subs(G.gamma, 1)


def build() -> Proof:
    p = Proof(
        id="group-layers",
        title="(h) LayerNorm, GroupNorm, InstanceNorm, noisy BatchNorm: BatchNorm's map per group",
        claim=r"On one normalization group $y \in \mathbb R^m$ (LayerNorm: a sample; GroupNorm: a "
        r"sample's group of channels; InstanceNorm: a sample's channel; noisy BatchNorm without "
        r"noise: a channel over the batch) each layer is $z = \gamma\odot n(y) + \beta$ with "
        r"$n_i = (y_i-\mu)/\sqrt{\mathrm{var}+\varepsilon}$, BatchNorm's map with the group's "
        r"statistics. Hence, with $\tilde g = \gamma\odot g$, $\hat g = J_n^\top\tilde g$ and "
        r"$\|\hat g\|^2 = \frac1{\sigma^2}\big(\|\tilde g\|^2 - "
        r"\frac1m\langle\mathbf 1,\tilde g\rangle^2 - \frac{2-\rho}{m}\langle\tilde g,\hat y"
        r"\rangle^2\big)$ (Theorem 1 with $g \to \tilde g$, $\gamma \to 1$); Theorem 2 holds with "
        r"$g \to \tilde g$, $\gamma \to 1$, $H \to \tilde H = DHD$, $D = \mathrm{diag}(\gamma)$.",
        assumptions=[
            r"$\mathrm{var} + \varepsilon > 0$ for the group",
            r"$\gamma$, $\beta$ fixed (elementwise allowed)",
            r"noisy BatchNorm: its noise-free map; a drawn noise is a further diagonal affine map, "
            r"handled as $\gamma$ is",
        ],
    )
    p.define(
        "elementwise affine output", sympy.Symbol("z_i"), gamma_i * sympy.Symbol("n_i") + beta_i
    )
    p.define("scaled output gradient", sympy.Symbol(r"\tilde{g}_i"), gamma_i * sympy.Symbol("g_i"))
    for name, title in LAYERS.items():
        p.check(
            rf"{title}: its symbolic forward on one group equals BatchNorm's, exactly, for "
            rf"$m = 2, \dots, {max(FORWARD_M)}$ "
            r"(symbolic $y$, $\gamma$, $\beta$, $\varepsilon$)",
            lambda name=name: _same_forward(name),
        )
    z = gamma_i * (G.y["i"] - G.mu) / sympy.sqrt(G.var + G.eps) + beta_i
    derived = G.total_derivative(z, "k")
    p.eq(
        r"Elementwise $\gamma$: the chain rule gives $D_k z_i = \gamma_i (J_n)_{ik}$, i.e. "
        r"$J = DJ_n$, $J_n = \frac1\sigma\big(\delta_{ik} - \frac1m - "
        r"\frac1m\hat y_i\hat y_k\big)$",
        G.to_yhat(derived),
        gamma_i * jn(),
    )
    p.eq(
        r"... and $D_l D_k z_i = \gamma_i (T_n)_{ikl}$ with $T_n$ proof (b)'s tensor at "
        r"$\gamma = 1$",
        G.to_yhat(G.total_derivative(derived, "l")),
        gamma_i * tn(),
    )
    gh = G.contract(jn(), {"i": G.G}, free="k")  # the basis vector g read as g~
    p.eq(
        r"So $\hat g_k = \sum_i g_i\gamma_i(J_n)_{ik} = (J_n^\top\tilde g)_k$; Theorem 1's "
        r"expansion with $\gamma \to 1$: $\|\hat g\|^2 = \frac1{\sigma^2}\big(\|\tilde g\|^2 - "
        r"\frac1m\langle\mathbf 1,\tilde g\rangle^2 - \frac{2-\rho}{m}\langle\tilde g,\hat y"
        r"\rangle^2\big)$",
        tilde(gh.dot(gh)),
        (gt_sq - gt_one**2 / m - (2 - rho) * gt_yhat**2 / m) / sigma**2,
    )
    p.check(
        r"Checked explicitly on $z_i = \gamma_i n_i + \beta_i$, $n$ the layers' common symbolic "
        r"forward (steps 1-4) at $\gamma = 1$, $\beta = 0$, with symbolic "
        r"$\gamma_0, \dots, \gamma_{m-1}$, $\beta_0, \dots, \beta_{m-1}$: "
        r"$J^\top g = J_n^\top(Dg)$ and $\|J^\top g\|^2$ equals the formula, exactly (symbolic "
        r"$y$, $g$, $\varepsilon$): the first for $m = 2, \dots, 6$, the second for "
        r"$m = 2, \dots, 4$",
        _elementwise_explicit,
    )
    jg = G.contract(
        jn().subs({G.d("i", "k"): G.d("i", "l"), G.yhat["k"]: G.yhat["l"]}), {"l": gh}, free="i"
    )
    quad, curv = jg.quad(jg), G.contract(tn(), {"i": G.G, "k": gh, "l": gh})
    p.eq(
        r"Theorem 2: $(J\hat g)^\top H(J\hat g) = (J_n\hat g)^\top\tilde H(J_n\hat g)$; at "
        r"$\varepsilon = 0$ it is $\frac1{\sigma^2}\hat g^\top\tilde H\hat g$",
        tilde(quad.subs(rho, 1)),
        tilde(gh.quad(gh).subs(rho, 1) / sigma**2),
    )
    gy, g1 = gt_yhat, gt_one
    Hyy, H1y, Hgy = (
        TILDE[G.h_symbol(*ab)] for ab in (("yhat", "yhat"), ("1", "yhat"), ("g", "yhat"))
    )
    p.eq(
        r"$\varepsilon \ge 0$: the first term is proof (d)'s with $\gamma \to 1$, "
        r"$g \to \tilde g$, $H \to \tilde H$: $\frac1{\sigma^2}\hat g^\top\tilde H\hat g + "
        r"\frac{(\rho-1)\langle\tilde g,\hat y\rangle}{m^2\sigma^4}\big((\rho-3)\langle\hat y,"
        r"\tilde H\hat y\rangle\langle\tilde g,\hat y\rangle - "
        r"2\langle\mathbf 1,\tilde H\hat y\rangle\langle\mathbf 1,\tilde g\rangle + "
        r"2m\langle\tilde g,\tilde H\hat y\rangle\big)$",
        tilde(quad),
        tilde(gh.quad(gh)) / sigma**2
        + gy * (rho - 1) / (m**2 * sigma**4) * (Hyy * gy * (rho - 3) - 2 * H1y * g1 + 2 * m * Hgy),
    )
    p.eq(
        r"... and $\sum_{ikl} g_i\gamma_i(T_n)_{ikl}\hat g_k\hat g_l$ at $\varepsilon = 0$ is "
        r"$-\frac1{m\sigma^2}\langle\tilde g,\hat y\rangle\|\hat g\|^2$",
        tilde(curv.subs(rho, 1)),
        -gt_yhat * tilde(gh.dot(gh)).subs(rho, 1) / (m * sigma**2),
    )
    p.eq(
        r"$\varepsilon \ge 0$: the curvature term is proof (d)'s with $\gamma \to 1$, "
        r"$g \to \tilde g$: $-\frac{\langle\tilde g,\hat y\rangle}{m\sigma^2}\|\hat g\|^2 + "
        r"\frac{(\rho-1)\langle\tilde g,\hat y\rangle}{m^2\sigma^4}\big(2m\|\tilde g\|^2 - "
        r"2\langle\mathbf 1,\tilde g\rangle^2 + (3\rho-5)\langle\tilde g,\hat y\rangle^2\big)$",
        tilde(curv),
        -gt_yhat * tilde(gh.dot(gh)) / (m * sigma**2)
        + gt_yhat
        * (rho - 1)
        / (m**2 * sigma**4)
        * (2 * m * gt_sq - 2 * gt_one**2 + (3 * rho - 5) * gt_yhat**2),
    )
    p.check(
        r"The curvature term from the explicit Hessian of $z_i = \gamma_i n_i + \beta_i$ (symbolic "
        r"$\gamma_i$): $\sum_{ikl} g_i\,\partial^2 z_i/\partial y_k\partial y_l\,\hat g_k\hat g_l$ "
        r"equals the last formula (with $\sigma^2 = \mathrm{var}+\varepsilon$, "
        r"$\rho = \mathrm{var}/\sigma^2$), exactly, symbolic $g$, $\gamma_i$, $\varepsilon$: "
        r"$m = 2$ with symbolic $y$, $m = 3$ at two rational $y$, $m = 4$ at one",
        _curvature_explicit,
    )
    return p


# ------------------------------------------------------------------ explicit checks
# sigma for explicit m: eps = R^2 - var makes sqrt(var + eps) = R exactly
R = sympy.Symbol("R", positive=True)


def _variance(ys):
    # as BatchNorm.symbolic builds it, so that var + eps - var cancels structurally
    mu = sympy.Add(*ys) / len(ys)
    return sympy.Add(*[(v - mu) ** 2 for v in ys]) / len(ys)


def _rationalize(expr, sym):
    return expr.subs(sym.eps, R**2 - _variance(sym.y))


def _same_forward(name: str) -> tuple[bool, str]:
    for mm in FORWARD_M:
        z, sym = explicit.forward(name, mm, "eps")
        ref, sym_bn = explicit.forward("batchnorm", mm, "eps")
        if sym != sym_bn or len(z) != mm:
            return False, f"different symbols at m={mm}"
        for i, (a, b) in enumerate(zip(z, ref)):
            if sympy.expand(_rationalize(a - b, sym)) != 0:
                return False, f"z_{i} differs from BatchNorm's at m={mm}"
    return True, f"m = {min(FORWARD_M)}..{max(FORWARD_M)}: every output equal"


def _elementwise(mm):
    z, sym = explicit.forward("batchnorm", mm, "eps")
    gam = sympy.symbols(f"gamma0:{mm}", real=True)
    bet = sympy.symbols(f"beta0:{mm}", real=True)
    n = [zi.subs({sym.gamma: 1, sym.beta: 0}) for zi in z]
    ze = [gam[i] * n[i] + bet[i] for i in range(mm)]
    return sym, gam, n, ze


def _elementwise_explicit() -> tuple[bool, str]:
    for mm in range(2, 7):
        sym, gam, n, ze = _elementwise(mm)
        ys = sympy.Matrix(sym.y)
        J = _rationalize(sympy.Matrix(ze).jacobian(ys), sym)
        Jn = _rationalize(sympy.Matrix(n).jacobian(ys), sym)
        g = sympy.Matrix(sympy.symbols(f"g0:{mm}", real=True))
        gt = sympy.Matrix([gam[i] * g[i] for i in range(mm)])
        gh = J.T * g
        if (gh - Jn.T * gt).applyfunc(sympy.expand) != sympy.zeros(mm, 1):
            return False, f"J^T g != J_n^T (D g) at m={mm}"
        if mm > 4:  # the norm's expansion grows fast with m
            continue
        var = _variance(sym.y)
        yh = [(v - sympy.Add(*sym.y) / mm) / R for v in sym.y]
        rho_v = var / R**2
        gty = sum(gt[i] * yh[i] for i in range(mm))
        formula = ((gt.T * gt)[0] - sum(gt) ** 2 / mm - (2 - rho_v) * gty**2 / mm) / R**2
        if sympy.expand((gh.T * gh)[0] - formula) != 0:
            return False, f"||J^T g||^2 differs at m={mm}"
    return True, "J^T g = J_n^T (D g): m = 2..6; the norm: m = 2..4; exact"


def _curvature_explicit() -> tuple[bool, str]:
    """m = 2 with symbolic y; m = 3, 4 at rational points y (g, gamma_i, eps still symbolic)."""
    cases = [(2, None), (3, (1, 4, -2)), (3, (sympy.Rational(1, 3), 0, 5)), (4, (2, -1, 0, 7))]
    for mm, point in cases:
        sym, gam, n, ze = _elementwise(mm)
        g = sympy.symbols(f"g0:{mm}", real=True)
        u = sympy.symbols(f"u0:{mm}", real=True)
        s = sympy.Symbol("s")
        # sum_i g_i u^T (nabla^2 z_i) u as the second derivative of sum_i g_i z_i(y + s u) at s = 0
        phi = sum(g[i] * ze[i] for i in range(mm)).subs(
            {sym.y[k]: sym.y[k] + s * u[k] for k in range(mm)}, simultaneous=True
        )
        d2 = _rationalize(sympy.diff(phi, s, 2).subs(s, 0), sym)
        gh = _rationalize(sympy.Matrix(ze).jacobian(sympy.Matrix(sym.y)).T * sympy.Matrix(g), sym)
        yh = [(v - sympy.Add(*sym.y) / mm) / R for v in sym.y]
        r = _variance(sym.y) / R**2
        at = {} if point is None else dict(zip(sym.y, point))
        gh, yh, r, d2 = gh.subs(at), [v.subs(at) for v in yh], r.subs(at), d2.subs(at)
        direct = d2.subs({u[k]: gh[k] for k in range(mm)}, simultaneous=True)
        gt = [gam[i] * g[i] for i in range(mm)]
        gty, gt1, gt2 = sum(a * b for a, b in zip(gt, yh)), sum(gt), sum(a**2 for a in gt)
        n2 = (gh.T * gh)[0]
        formula = -gty * n2 / (mm * R**2) + gty * (r - 1) / (mm**2 * R**4) * (
            2 * mm * gt2 - 2 * gt1**2 + (3 * r - 5) * gty**2
        )
        if sympy.expand(direct - formula) != 0:
            return False, f"curvature term differs at m={mm}, y={point}"
    return True, "m = 2 (symbolic y), m = 3 (two rational y), m = 4 (one): exact"
