r"""(i) RMSNorm: the analogues of Theorems 1 and 2 for a normalization without centering.

Per group, :math:`z = \gamma\,y/t` with :math:`t = \sqrt{\overline{y^2} + \varepsilon}` (no mean is
subtracted, no bias).  The general-``m`` steps use the index calculus and the batch-vector
algebra of :mod:`bntheory.symbolic.general` with two changes: the statistic is the mean square
:math:`\overline{y^2}` (:math:`D_j\overline{y^2} = \tfrac2m y_j`), and
:math:`\langle\mathbf 1,\hat y\rangle` is *not* zero (``<1, yhat>`` is a free symbol here).  The
contraction below is strict: every summed index must meet exactly two vectors, so no inner
product with :math:`\mathbf 1` is ever assumed.
"""

import sympy

from bntheory.symbolic import explicit
from bntheory.symbolic import general as G
from bntheory.symbolic.proof import Proof

m, gamma, eps, rho = G.m, G.gamma, G.eps, G.rho
ms = sympy.Symbol(r"\overline{y^2}", positive=True)  # mean square of the group
t = sympy.Symbol("t", positive=True)  # sqrt(ms + eps)
one_yhat = sympy.Symbol(r"\langle\mathbf{1}\,\hat{y}\rangle", real=True)
y, yhat, INDICES = G.y, G.yhat, G.INDICES
ONE, YHAT, GV = G.ONE, G.YHAT, G.G


# ---------------------------------------------------------------- index calculus
def forward_indexed(a: str = "i") -> sympy.Expr:
    r"""$z_a = \gamma y_a/\sqrt{\overline{y^2}+\varepsilon}$."""
    return gamma * y[a] / sympy.sqrt(ms + eps)


def total_derivative(expr: sympy.Expr, j: str) -> sympy.Expr:
    r"""$D_j$ of an expression in $y_a$ and $\overline{y^2}$.

    The chain rule with $D_j y_a = \delta_{aj}$, $D_j\overline{y^2} = \frac2m y_j$.
    """
    out = sympy.diff(expr, ms) * 2 * y[j] / m
    for a in INDICES:
        if expr.has(y[a]):
            out += sympy.diff(expr, y[a]) * G.d(a, j)
    return out


def to_yhat(expr: sympy.Expr) -> sympy.Expr:
    r"""Rewrite in $\hat y_a = y_a/t$ and $t$ ($\overline{y^2} = t^2 - \varepsilon$)."""
    expr = expr.subs({y[a]: t * yhat[a] for a in INDICES}).subs(sympy.sqrt(ms + eps), t)
    return sympy.simplify(expr.subs(ms, t**2 - eps))


def jacobian_closed_form() -> sympy.Expr:
    r"""$J_{ik} = \frac{\gamma}{t}\big(\delta_{ik} - \frac1m\hat y_i\hat y_k\big)$.

    BatchNorm's Jacobian without the $-\frac1m$.
    """
    return gamma / t * (G.d("i", "k") - yhat["i"] * yhat["k"] / m)


def second_derivative_closed_form() -> sympy.Expr:
    r"""$T_{ikl} = \partial^2 z_i/\partial y_k\partial y_l$, fully symmetric.

    $T_{ikl} = \frac{\gamma}{mt^2}\big(\frac3m\hat y_i\hat y_k\hat y_l - \delta_{il}\hat y_k
    - \delta_{ik}\hat y_l - \delta_{kl}\hat y_i\big)$.
    """
    yhat_i, yhat_k, yhat_l = (yhat[a] for a in INDICES)
    d = G.d
    return (
        gamma
        / (m * t**2)
        * (
            3 * yhat_i * yhat_k * yhat_l / m
            - d("i", "l") * yhat_k
            - d("i", "k") * yhat_l
            - d("k", "l") * yhat_i
        )
    )


# ------------------------------------------------------------ batch-vector algebra
def gram(a: str, b: str) -> sympy.Expr:
    r"""Inner products: $\langle\hat y,\hat y\rangle = m\rho$.

    $\langle\mathbf 1,\hat y\rangle$ is a free symbol (no centering).
    """
    table = {
        ("1", "1"): m,
        ("1", "yhat"): one_yhat,
        ("yhat", "yhat"): m * rho,
        ("1", "g"): G.g_one,
        ("yhat", "g"): G.g_yhat,
        ("g", "g"): G.g_sq,
    }
    return table.get((a, b), table.get((b, a)))


def dot(u: G.Vec, v: G.Vec) -> sympy.Expr:
    return sympy.Add(*[a * b * gram(p, q) for p, a in u.c.items() for q, b in v.c.items()])


def quad(u: G.Vec, v: G.Vec) -> sympy.Expr:
    return sympy.Add(*[a * b * G.h_symbol(p, q) for p, a in u.c.items() for q, b in v.c.items()])


def contract(expr: sympy.Expr, vectors: dict[str, G.Vec], free: str | None = None):
    r"""Contract an index expression in $\hat y_a$, $\delta_{ab}$ with batch vectors (strict: every
    summed index meets exactly two vectors, the free index at most one)."""
    total = G.Vec({}) if free else sympy.Integer(0)
    for mono in sympy.Add.make_args(sympy.expand(expr)):
        coeff, powers, deltas = sympy.Integer(1), {a: 0 for a in INDICES}, []
        for factor, exp in mono.as_powers_dict().items():
            hit = [a for a in INDICES if factor == yhat[a]]
            pair = [p for p, s in G.delta.items() if factor == s]
            if hit:
                powers[hit[0]] += int(exp)
            elif pair:
                deltas.append(tuple(pair[0]))
            else:
                coeff *= factor**exp
        groups = {a: {a} for a in INDICES if a in vectors or a == free}
        for a, b in deltas:
            merged = groups[a] | groups[b]
            for x in merged:
                groups[x] = merged
        value, out, seen = coeff, None, []
        for grp in groups.values():
            if any(grp is s for s in seen):
                continue
            seen.append(grp)
            factors = [vectors[a] for a in grp if a in vectors] + [YHAT] * sum(
                powers[a] for a in grp
            )
            if free in grp:
                if len(factors) != 1:
                    raise ValueError(f"cannot contract {mono} at the free index")
                out = factors[0]
            elif len(factors) == 2:
                value *= dot(*factors)
            else:
                raise ValueError(
                    f"cannot contract {mono}: {len(factors)} factors at a summed index"
                )
        total = total + out.scale(value) if free else total + value
    return total


def jt(v: G.Vec) -> G.Vec:
    r"""$J^\top v$ (and $Jv$: $J$ is symmetric), contracting the proved closed form."""
    return contract(jacobian_closed_form(), {"i": v}, free="k")


def exact_norm_sq(r=rho) -> sympy.Expr:
    r"""The Theorem 1 analogue, for any $\rho$ (default the symbol).

    $\|\hat g\|^2 = \frac{\gamma^2}{t^2}\big(\|g\|^2
    - \frac{2-\rho}{m}\langle g,\hat y\rangle^2\big)$.
    """
    return gamma**2 / t**2 * (G.g_sq - (2 - r) * G.g_yhat**2 / m)


def first_correction() -> sympy.Expr:
    r"""$(J\hat g)^\top H(J\hat g) - \frac{\gamma^2}{t^2}\hat g^\top H\hat g$."""
    gy, Hyy, Hgy = G.g_yhat, G.h_symbol("yhat", "yhat"), G.h_symbol("g", "yhat")
    return gamma**4 * gy * (rho - 1) / (m**2 * t**4) * (Hyy * gy * (rho - 3) + 2 * m * Hgy)


def curvature_correction() -> sympy.Expr:
    r"""$\sum g_iT_{ikl}\hat g_k\hat g_l
    + \frac{\gamma}{mt^2}\langle g,\hat y\rangle\|\hat g\|^2$."""
    gy = G.g_yhat
    return gamma**3 * gy * (rho - 1) / (m**2 * t**4) * (2 * m * G.g_sq + (3 * rho - 5) * gy**2)


def build() -> Proof:
    p = Proof(
        id="rmsnorm-analogues",
        title="(i) RMSNorm: the exact gradient norm and curvature (Theorems 1 and 2 without "
        "centering)",
        claim=r"For RMSNorm $z = \gamma y/t$, $t = \sqrt{\overline{y^2}+\varepsilon}$, "
        r"$\hat y = y/t$, $\rho = \overline{y^2}/(\overline{y^2}+\varepsilon) = \|\hat y\|^2/m$, "
        r"every $m \ge 2$: $J = \frac{\gamma}{t}(I - \frac1m\hat y\hat y^\top)$ and "
        r"$\|\hat g\|^2 = \frac{\gamma^2}{t^2}\big(\|g\|^2 - "
        r"\frac{2-\rho}{m}\langle g,\hat y\rangle^2\big) \le \frac{\gamma^2}{t^2}\|g\|^2$, with "
        r"equality iff $\gamma\langle g, y\rangle = 0$ (for every $\varepsilon \ge 0$). Unlike "
        r"BatchNorm there is no $-\frac1m\langle\mathbf 1,g\rangle^2$ term: only the direction "
        r"$\hat y \propto y$ is removed (exactly, when $\varepsilon = 0$), not $\mathbf 1$. "
        r"Theorem 2's exact value holds with $\sigma \to t$ and $\langle\mathbf 1,\cdot\rangle$ "
        r"terms dropped: for $\varepsilon = 0$, "
        r"$\hat g^\top\hat H\hat g = \frac{\gamma^2}{t^2}\hat g^\top H\hat g - "
        r"\frac{\gamma}{mt^2}\langle g,\hat y\rangle\|\hat g\|^2$.",
        assumptions=[
            r"$\overline{y^2} + \varepsilon > 0$ (so $t > 0$)",
            r"$\varepsilon \ge 0$",
            r"$\gamma$ a scalar (elementwise: proof (h))",
            r"$\mathcal L$ twice differentiable at $z$",
        ],
        symbol_names={ms: r"\overline{y^2}"},
    )
    a = sympy.Symbol("a")
    ya = sympy.Symbol("y_a", real=True)
    p.define("mean square", ms, sympy.Sum(ya**2, (a, 1, m)) / m)
    p.define("scale", t, sympy.sqrt(ms + eps))
    p.define("normalized value", yhat["i"], y["i"] / t)
    p.define("ratio", rho, ms / (ms + eps))
    p.check(
        r"Lemma: $\partial\overline{y^2}/\partial y_k = \frac2m y_k$, "
        r"$\langle\hat y,\hat y\rangle = m\rho$; and $\langle\mathbf 1,\hat y\rangle \ne 0$ in "
        r"general (so it stays a free symbol); exact for $m = 2, \dots, 8$",
        _lemma,
    )
    derived = total_derivative(forward_indexed("i"), "k")
    p.eq(
        r"Chain rule: $D_k z_i = \gamma\frac{\delta_{ik}}{t} - \gamma\frac{y_i y_k}{m t^3}$",
        derived,
        gamma * G.d("i", "k") / sympy.sqrt(ms + eps)
        - gamma * y["i"] * y["k"] / (m * (ms + eps) ** sympy.Rational(3, 2)),
    )
    p.eq(
        r"In $\hat y$, $t$: $J_{ik} = \frac{\gamma}{t}\big(\delta_{ik} - "
        r"\frac1m\hat y_i\hat y_k\big)$",
        to_yhat(derived),
        jacobian_closed_form(),
    )
    p.eq(
        r"Once more along $y_l$: $T_{ikl} = \frac{\gamma}{mt^2}\big(\frac3m\hat y_i\hat y_k"
        r"\hat y_l - \delta_{il}\hat y_k - \delta_{ik}\hat y_l - \delta_{kl}\hat y_i\big)$ "
        r"(BatchNorm's with $P \to I$)",
        to_yhat(total_derivative(derived, "l")),
        second_derivative_closed_form(),
    )
    p.check(
        r"Both closed forms equal SymPy's derivatives of the registered layer's symbolic forward "
        r"(`explicit.jacobian/hessian('rmsnorm', m, 'eps')`), exactly, symbolic $y$ and "
        r"$\varepsilon$: $J$ for $m = 2, \dots, 5$, $T$ for $m = 2, \dots, 4$",
        _closed_forms_explicit,
    )
    gh = jt(GV)
    p.eq(
        r"Backward pass $\hat g = J^\top g = \frac{\gamma}{t}\big(g - \frac1m\hat y\langle\hat y, "
        r"g\rangle\big)$: component along $g$",
        gh.c.get("g", 0),
        gamma / t,
    )
    p.eq(
        r"... along $\hat y$: $-\frac{\gamma}{mt}\langle g,\hat y\rangle$",
        gh.c.get("yhat", 0),
        -gamma * G.g_yhat / (m * t),
    )
    p.eq(r"... and none along $\mathbf 1$", gh.c.get("1", 0), 0)
    p.eq(
        r"Theorem 1 analogue: $\|\hat g\|^2 = \frac{\gamma^2}{t^2}\big(\|g\|^2 - "
        r"\frac{2-\rho}{m}\langle g,\hat y\rangle^2\big)$",
        dot(gh, gh),
        exact_norm_sq(),
    )
    p.check(
        r"The same from the explicit Jacobian: $\|J^\top g\|^2$ equals it exactly for "
        r"$m = 2, \dots, 5$, symbolic $y$, $g$, $\gamma$, $\varepsilon$",
        _norm_explicit,
    )
    rho_eps = ms / (ms + eps)
    p.le(
        r"Bound: $\|\hat g\|^2 \le \frac{\gamma^2}{t^2}\|g\|^2$, the gap "
        r"$\frac{\gamma^2}{t^2}\frac{2-\rho}{m}\langle g,\hat y\rangle^2$ having "
        r"$2 - \rho = \frac{\overline{y^2}+2\varepsilon}{\overline{y^2}+\varepsilon} > 0$",
        exact_norm_sq(rho_eps),
        gamma**2 * G.g_sq / t**2,
        gamma**2 * (ms + 2 * eps) * G.g_yhat**2 / (m * t**2 * (ms + eps)),
    )
    gap = gamma**2 / t**2 * (2 - rho_eps) * G.g_yhat**2 / m
    p.le(
        r"Equality iff $\gamma\langle g,\hat y\rangle = 0$, i.e. $\gamma\langle g, y\rangle = 0$, "
        r"for every $\varepsilon \ge 0$: the gap is at least "
        r"$\frac{\gamma^2}{mt^2}\langle g,\hat y\rangle^2$ (as $2 - \rho \ge 1$) and vanishes when "
        r"$\langle g,\hat y\rangle = 0$",
        gamma**2 * G.g_yhat**2 / (m * t**2),
        gap,
        gamma**2 * eps * G.g_yhat**2 / (m * t**2 * (ms + eps)),
    )
    proj = lambda v: jt(v).scale(t / gamma)  # Pi = I - yhat yhat^T/m
    diff = proj(proj(GV)) - proj(GV)
    p.eq(
        r"$\varepsilon = 0$ ($\rho = 1$): $J^\top = \frac{\gamma}{t}\Pi$ with "
        r"$\Pi = I - \frac1m\hat y\hat y^\top$ an orthogonal projector: "
        r"$\|\Pi(\Pi g) - \Pi g\|^2 = 0$",
        dot(diff, diff).subs(rho, 1),
        0,
    )
    p.eq(
        r"The direction removed is $\hat y \propto y$: "
        r"$J^\top\hat y = \frac{\gamma}{t}(1-\rho)\hat y$, zero when $\varepsilon = 0$ (RMSNorm is "
        r"scale invariant); squared norm of $J^\top\hat y - \frac{\gamma}{t}(1-\rho)\hat y$",
        dot(
            jt(YHAT) - YHAT.scale(gamma / t * (1 - rho)),
            jt(YHAT) - YHAT.scale(gamma / t * (1 - rho)),
        ),
        0,
    )
    j1 = jt(ONE)
    p.eq(
        r"... but $\mathbf 1$ is not removed (BatchNorm has $J^\top\mathbf 1 = 0$): "
        r"$\|J^\top\mathbf 1\|^2 = \frac{\gamma^2}{t^2}\big(m - "
        r"\frac{2-\rho}{m}\langle\mathbf 1,\hat y\rangle^2\big)$, positive at $\varepsilon = 0$ "
        r"unless $y$ is constant (Cauchy-Schwarz)",
        dot(j1, j1),
        gamma**2 / t**2 * (m - (2 - rho) * one_yhat**2 / m),
    )
    # ------------------------------------------------------------------ Theorem 2
    p.eq(
        r"Theorem 2 analogue. $\langle\hat y,\hat g\rangle = "
        r"\frac{\gamma}{t}(1-\rho)\langle g,\hat y\rangle$, zero when $\varepsilon = 0$",
        dot(YHAT, gh),
        gamma / t * (1 - rho) * G.g_yhat,
    )
    jg = jt(gh)
    quadratic = quad(jg, jg)
    curvature = contract(second_derivative_closed_form(), {"i": GV, "k": gh, "l": gh})
    p.eq(
        r"$\varepsilon = 0$: $J\hat g = \frac{\gamma}{t}\hat g$, so "
        r"$(J\hat g)^\top H(J\hat g) = \frac{\gamma^2}{t^2}\hat g^\top H\hat g$",
        quadratic.subs(rho, 1),
        (gamma**2 / t**2 * quad(gh, gh)).subs(rho, 1),
    )
    p.eq(
        r"$\varepsilon = 0$: $\sum_{ikl} g_iT_{ikl}\hat g_k\hat g_l = "
        r"-\frac{\gamma}{mt^2}\langle g,\hat y\rangle\|\hat g\|^2$ (Theorem 2's second term with "
        r"$\sigma \to t$)",
        curvature.subs(rho, 1),
        (-gamma / (m * t**2) * G.g_yhat * dot(gh, gh)).subs(rho, 1),
    )
    p.eq(
        r"$\varepsilon \ge 0$: exact first term $\frac{\gamma^2}{t^2}\hat g^\top H\hat g + "
        r"\frac{\gamma^4(\rho-1)\langle g,\hat y\rangle}{m^2t^4}\big((\rho-3)\langle\hat y,H\hat y"
        r"\rangle\langle g,\hat y\rangle + 2m\langle g,H\hat y\rangle\big)$ (BatchNorm's "
        r"correction without its $\langle\mathbf 1, \cdot\rangle$ term)",
        quadratic,
        gamma**2 / t**2 * quad(gh, gh) + first_correction(),
    )
    p.eq(
        r"$\varepsilon \ge 0$: exact curvature term $-\frac{\gamma}{mt^2}\langle g,\hat y\rangle\|"
        r"\hat g\|^2 + \frac{\gamma^3(\rho-1)\langle g,\hat y\rangle}{m^2t^4}\big(2m\|g\|^2 + "
        r"(3\rho-5)\langle g,\hat y\rangle^2\big)$",
        curvature,
        -gamma / (m * t**2) * G.g_yhat * dot(gh, gh) + curvature_correction(),
    )
    p.check(
        r"The Hessian-vector product of `bntheory.norms.grouped` with $P \to I$, $c = y$, "
        r"$w = c/(mt)$, $\tilde g = \gamma g$, $g_n = \langle\tilde g, c\rangle/t$: "
        r"$\sum_i g_i\nabla^2 z_i\,v = \big(2g_n\langle w,v\rangle w - \langle w,v\rangle\tilde g "
        r"- \langle\tilde g,v\rangle w - g_n(v - c\langle w,v\rangle/t)/m\big)/t^2$, equals the "
        r"explicit Hessian contracted with $g$, $v$, exactly for $m = 2, \dots, 4$ (symbolic "
        r"$y, g, v, \gamma, \varepsilon$)",
        _hvp_explicit,
    )
    return p


# ------------------------------------------------------------------ explicit checks
# t for explicit m: eps = R^2 - mean(y^2) makes t = R exactly
R = sympy.Symbol("R", positive=True)


def _rationalize(expr, sym):
    """Substitute eps = R^2 - mean(y^2): every power of t becomes a power of R.

    A bijection eps >= 0 <-> R >= rms(y)."""
    msq = sympy.Add(*[v**2 for v in sym.y]) / len(sym.y)
    return expr.subs(sym.eps, R**2 - msq)


def _lemma() -> tuple[bool, str]:
    e = sympy.Symbol("eps", positive=True)
    for mm in range(2, 9):
        ys = sympy.symbols(f"y0:{mm}", real=True)
        msq = sum(v**2 for v in ys) / mm
        for k, v in enumerate(ys):
            if sympy.expand(sympy.diff(msq, v) - 2 * v / mm) != 0:
                return False, f"d ms/d y{k} wrong at m={mm}"
        yh = [v / sympy.sqrt(msq + e) for v in ys]
        if sympy.cancel(sum(v**2 for v in yh) - mm * msq / (msq + e)) != 0:
            return False, f"<yhat, yhat> != m rho at m={mm}"
        if sum(yh).subs({v: 1 for v in ys}).subs(e, 0) == 0:
            return False, "<1, yhat> vanished at y = 1"
    return True, "m = 2..8: identities hold exactly; at y = (1, ..., 1), eps = 0: <1, yhat> = m"


def _closed_forms_explicit() -> tuple[bool, str]:
    for mm in range(2, 6):
        sym = explicit.group_symbols(mm, "eps")
        J = _rationalize(explicit.jacobian("rmsnorm", mm, "eps"), sym)
        yh = [v / R for v in sym.y]
        for i in range(mm):
            for k in range(mm):
                ref = sym.gamma / R * (int(i == k) - yh[i] * yh[k] / mm)
                if sympy.cancel(J[i, k] - ref) != 0:
                    return False, f"J[{i},{k}] differs at m={mm}"
        if mm > 4:
            continue
        T = explicit.hessian("rmsnorm", mm, "eps")
        for i in range(mm):
            for k in range(mm):
                for j in range(mm):  # the index l of T_{ikl}
                    d = lambda a, b: int(a == b)
                    ref = (
                        sym.gamma
                        / (mm * R**2)
                        * (
                            3 * yh[i] * yh[k] * yh[j] / mm
                            - d(i, j) * yh[k]
                            - d(i, k) * yh[j]
                            - d(k, j) * yh[i]
                        )
                    )
                    if sympy.cancel(_rationalize(T[i, k, j], sym) - ref) != 0:
                        return False, f"T[{i},{k},{j}] differs at m={mm}"
    return True, "J: m = 2..5, T: m = 2..4, every entry exactly"


def _norm_explicit() -> tuple[bool, str]:
    for mm in range(2, 6):
        sym = explicit.group_symbols(mm, "eps")
        g = sympy.Matrix(sympy.symbols(f"g0:{mm}", real=True))
        J = _rationalize(explicit.jacobian("rmsnorm", mm, "eps"), sym)
        gh = J.T * g
        yh = sympy.Matrix(sym.y) / R
        rho_v = sum(v**2 for v in sym.y) / mm / R**2
        gy = (g.T * yh)[0]
        formula = sym.gamma**2 / R**2 * ((g.T * g)[0] - (2 - rho_v) * gy**2 / mm)
        if sympy.expand((gh.T * gh)[0] - formula) != 0:
            return False, f"||J^T g||^2 differs at m={mm}"
    return True, "m = 2..5: exact"


def _hvp_explicit() -> tuple[bool, str]:
    for mm in range(2, 5):
        sym = explicit.group_symbols(mm, "eps")
        g = sympy.Matrix(sympy.symbols(f"g0:{mm}", real=True))
        v = sympy.Matrix(sympy.symbols(f"v0:{mm}", real=True))
        T = explicit.hessian("rmsnorm", mm, "eps")
        direct = sympy.Matrix(
            [sum(g[i] * T[i, k, j] * v[j] for i in range(mm) for j in range(mm)) for k in range(mm)]
        )
        direct = _rationalize(direct, sym)
        c = sympy.Matrix(sym.y)
        tt = R
        w = c / (mm * tt)
        gt = sym.gamma * g
        ip = lambda a, b: (a.T * b)[0]
        gn = ip(gt, c) / tt
        formula = (
            2 * gn * ip(w, v) * w
            - ip(w, v) * gt
            - ip(gt, v) * w
            - gn * (v - c * ip(w, v) / tt) / mm
        ) / tt**2
        if (direct - formula).applyfunc(sympy.cancel) != sympy.zeros(mm, 1):
            return False, f"hvp differs at m={mm}"
    return True, "m = 2..4: exact"
