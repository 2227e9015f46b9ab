r"""(j) l_p batch normalization (p = 1, 2, inf): the exact gradient norm, an oblique projector, and
gradient amplification for p = 1 and p = inf.

Per channel, :math:`c = Py`, :math:`t = s_p(c) + \varepsilon` and :math:`z = \gamma c/t + \beta`
with :math:`s_1 = \overline{|c|}`, :math:`s_2 = \sqrt{\overline{c^2}}`,
:math:`s_\infty = \max|c|`.  Write :math:`w = \nabla_y t`.  The general-``m`` part uses only
three facts about :math:`w`, proved per ``p`` on explicit ``m``:
:math:`\langle\mathbf 1, w\rangle = 0` (translation invariance),
:math:`\langle w, c\rangle = s` (Euler's relation for the 1-homogeneous :math:`s`), and the
backward pass :math:`J^\top g = \frac{\gamma}{t}(Pg - w\langle c,g\rangle/t)`.

For p = 1 and p = inf, ``Abs`` and ``Max`` are smooth on the open regions where the signs of
:math:`c` and the index of the largest :math:`|c_k|` are fixed; there the layer's symbolic
forward equals the forward with each ``Abs(a)`` replaced by ``sign * a`` and ``Max`` by the
largest argument, so their derivatives agree exactly.  Each region is named by a rational
point in it.
"""

import sympy

from bntheory.symbolic import explicit
from bntheory.symbolic import general as G
from bntheory.symbolic.proof import Proof

m, gamma, eps = G.m, G.gamma, G.eps
s = sympy.Symbol("s", positive=True)  # s_p(c)
t = s + eps
C2 = sympy.Symbol(r"\|c\|^2", positive=True)
W2 = sympy.Symbol(r"\|w\|^2", positive=True)
g_sq, g_one, g_c, g_w = sympy.symbols(
    r"\|g\|^2 \langle\mathbf{1}\,g\rangle \langle{c}\,g\rangle \langle{w}\,g\rangle", real=True
)
r_sq = sympy.Symbol(r"\|r\|^2", nonnegative=True)
d_sq = sympy.Symbol(r"\|c - \frac{s}{\|w\|^2}w\|^2", nonnegative=True)
alpha, beta_, delta_ = sympy.symbols(r"\alpha \beta \delta", real=True)
s_1, s_2, s_inf = sympy.symbols(r"s_1 s_2 s_\infty", positive=True)
sbar = sympy.Symbol(r"\bar\varsigma", real=True)  # mean of sign(c)
kappa_sq = C2 * W2 / s**2


# ------------------------------------------------------------ batch-vector algebra
def gram(a: str, b: str) -> sympy.Expr:
    r"""$\langle\mathbf 1,c\rangle = \langle\mathbf 1,w\rangle = 0$, $\langle c,w\rangle = s$;
    $r \perp \mathbf 1, c, w$."""
    table = {
        ("1", "1"): m,
        ("1", "c"): 0,
        ("1", "w"): 0,
        ("c", "c"): C2,
        ("c", "w"): s,
        ("w", "w"): W2,
        ("1", "g"): g_one,
        ("c", "g"): g_c,
        ("w", "g"): g_w,
        ("g", "g"): g_sq,
        ("r", "r"): r_sq,
        ("1", "r"): 0,
        ("c", "r"): 0,
        ("w", "r"): 0,
    }
    out = table.get((a, b), table.get((b, a)))
    if out is None:
        raise ValueError(f"no inner product <{a}, {b}> in this algebra")
    return sympy.sympify(out)


def vec(**coeffs) -> G.Vec:
    return G.Vec({("1" if k == "one" else k): sympy.sympify(v) for k, v in coeffs.items()})


def dot(u: G.Vec, v: G.Vec) -> sympy.Expr:
    return sympy.Add(*[a * b * gram(p, q) for p, a in u.c.items() for q, b in v.c.items()])


ONE, CV, WV, GV, RV = vec(one=1), vec(c=1), vec(w=1), vec(g=1), vec(r=1)
P = lambda v: v - ONE.scale(dot(ONE, v) / m)
Q = lambda v: P(v) - CV.scale(dot(WV, v) / s)  # Q = P - c w^T/s
QT = lambda v: P(v) - WV.scale(dot(CV, v) / s)
JT = lambda v, tt=t: (P(v) - WV.scale(dot(CV, v) / tt)).scale(gamma / tt)  # backward pass


def sq(v: G.Vec) -> sympy.Expr:
    return dot(v, v)


def build() -> Proof:
    p = Proof(
        id="lp-batchnorm-analogues",
        title=r"(j) $\ell_p$ BatchNorm: exact gradient norm, oblique projector, amplification for "
        r"$p = 1, \infty$",
        claim=r"For $\ell_p$ BatchNorm ($p = 1, 2, \infty$), $t = s_p(c) + \varepsilon$, "
        r"$w = \nabla_y t$ ($w = P\,\mathrm{sign}(c)/m$, $c/(ms_2)$, $Pe_k\mathrm{sign}(c_k)$ with "
        r"$k = \arg\max|c_k|$): $\|\hat g\|^2 = \frac{\gamma^2}{t^2}\big(\|Pg\|^2 - "
        r"\frac2t\langle c,g\rangle\langle w,g\rangle + "
        r"\frac{\|w\|^2}{t^2}\langle c,g\rangle^2\big)$. At $\varepsilon = 0$, "
        r"$J^\top = \frac{\gamma}{s}Q^\top$ with $Q = P - cw^\top/s$ an oblique projector "
        r"($Q^2 = Q$) of norm $\kappa_p = \|c\|\|w\|/s \ge 1$; for every $\varepsilon \ge 0$, "
        r"$\|\hat g\|^2 \le \gamma^2\kappa_p^2\|g\|^2/t^2$, attained at $\varepsilon = 0$. "
        r"$\kappa_2 = 1$ (BatchNorm's bound), $\kappa_1 = \frac{s_2}{s_1}\sqrt{1 - "
        r"\bar\varsigma^2}$ with $\bar\varsigma$ the mean of $\mathrm{sign}(c)$, "
        r"$\kappa_\infty = \sqrt{m-1}\,s_2/s_\infty$; both can exceed 1, and then the layer "
        r"amplifies the gradient: exact rational cases with $\|\hat g\|^2 > \gamma^2\|g\|^2/t^2$ "
        r"are given.",
        assumptions=[
            r"$s_p(c) > 0$",
            r"$\varepsilon \ge 0$",
            r"$\gamma$ a scalar",
            r"$p = 1, \infty$: $y$ in an open region where the signs of $c$ (and, for "
            r"$p = \infty$, the index of the largest $|c_k|$) are fixed, where the layer is smooth "
            r"(the complement has measure zero)",
        ],
    )
    p.define(
        r"oblique projector ($\varepsilon = 0$)",
        sympy.Symbol("Q"),
        sympy.Symbol("P") - sympy.Symbol(r"c w^{\top}") / s,
    )
    p.define("its norm (claimed)", sympy.Symbol(r"\kappa_p^2"), kappa_sq)
    for name, pp in (("l1batchnorm", 1), ("l2batchnorm", 2), ("linfbatchnorm", "inf")):
        ms_ = "2, \\dots, 4" if pp == 2 else "2, \\dots, 5"
        p.check(
            rf"$p = {sympy.latex(sympy.oo) if pp == 'inf' else pp}$: from the layer's symbolic "
            rf"forward, exactly, $m = {ms_}$, symbolic $y$ (in a region), $g$, $\gamma$, "
            rf"$\varepsilon$: "
            r"$J^\top g = \frac{\gamma}{t}(Pg - w\langle c,g\rangle/t)$ with the stated $w$; "
            r"$\langle\mathbf 1,w\rangle = 0$; $\langle w,c\rangle = s_p$; " + _W2_TEXT[pp],
            lambda name=name, pp=pp: _facts(name, pp),
        )
    gh = JT(GV)
    p.eq(
        r"Theorem 1 analogue: expanding $\|\hat g\|^2$ with $\langle\mathbf 1,w\rangle = 0$ "
        r"($\|Pg\|^2 = \|g\|^2 - \frac1m\langle\mathbf 1,g\rangle^2$)",
        sq(gh),
        gamma**2 / t**2 * (g_sq - g_one**2 / m - 2 * g_c * g_w / t + W2 * g_c**2 / t**2),
    )
    p.eq(
        r"$\varepsilon = 0$: $J^\top g = \frac{\gamma}{s}Q^\top g$, $Q^\top = P - wc^\top/s$ "
        r"(squared norm of the difference)",
        sq(JT(GV, s) - QT(GV).scale(gamma / s)),
        0,
    )
    p.eq(
        r"$Q^2 = Q$, using $\langle w,c\rangle = s$ and $Pc = c$, $Pw = w$: $\|Q(Qg) - Qg\|^2 = 0$ "
        r"for every $g$",
        sq(Q(Q(GV)) - Q(GV)),
        0,
    )
    p.eq(
        r"Its kernel contains $\mathbf 1$ and $c$: $\|Q\mathbf 1\|^2 + \|Qc\|^2 = 0$",
        sq(Q(ONE)) + sq(Q(CV)),
        0,
    )
    p.eq(
        r"On $r \perp \mathbf 1, c, w$ it is the identity: $\|Q^\top Qr - r\|^2 = 0$",
        sq(QT(Q(RV)) - RV),
        0,
    )
    x = WV.scale(C2) - CV.scale(s)
    qqx = QT(Q(x))
    p.eq(
        r"$x = \|c\|^2 w - s\,c$ is an eigenvector of $Q^\top Q$ for "
        r"$\kappa_p^2 = \|c\|^2\|w\|^2/s^2$: $Q^\top Qx$ has no component along $\mathbf 1$",
        qqx.c.get("1", 0),
        0,
    )
    p.eq(r"... its component along $w$ is $\kappa_p^2\|c\|^2$", qqx.c.get("w", 0), kappa_sq * C2)
    p.eq(r"... and along $c$ it is $-\kappa_p^2 s$", qqx.c.get("c", 0), -kappa_sq * s)
    p.eq(
        r"... orthogonal to $c$ (eigenvalue 0), $\mathbf 1$ (0) and $r$ (1); $\mathbf 1$, $c$, $x$ "
        r"and $\{\mathbf 1, c, w\}^\perp$ span $\mathbb R^m$ (when $w \not\parallel c$; else "
        r"$x = 0$ and $\kappa_p = 1$), so $\|Q\|^2 = \max(1, \kappa_p^2)$: "
        r"$\langle c, x\rangle = 0$",
        dot(CV, x),
        0,
    )
    p.eq(
        r"Cauchy-Schwarz by projection: $\|c - \frac{s}{\|w\|^2}w\|^2 = \|c\|^2 - "
        r"\frac{s^2}{\|w\|^2}$",
        sq(CV - WV.scale(s / W2)),
        C2 - s**2 / W2,
    )
    kappa_d = kappa_sq.subs(C2, d_sq + s**2 / W2)
    p.le(
        r"Hence $\kappa_p^2 = 1 + \frac{\|w\|^2}{s^2}\|c - \frac{s}{\|w\|^2}w\|^2 \ge 1$ and "
        r"$\|Q\| = \kappa_p$",
        1,
        kappa_d,
        W2 * d_sq / s**2,
    )
    # --------------------------------------------------------- the bound, every eps
    g_dec = ONE.scale(alpha) + CV.scale(beta_) + WV.scale(delta_) + RV
    sub_c2 = {C2: d_sq + s**2 / W2}
    lhs = sq(JT(g_dec)).subs(sub_c2)
    rhs = (gamma**2 * kappa_sq * sq(g_dec) / t**2).subs(sub_c2)
    p.le(
        r"Bound for every $\varepsilon \ge 0$: "
        r"$\|\hat g\|^2 \le \frac{\gamma^2\kappa_p^2}{t^2}\|g\|^2$. Write "
        r"$g = \alpha\mathbf 1 + \beta c + \delta w + r$, $r \perp \mathbf 1, c, w$, and $\|c\|^2$ "
        r"through $\|c - \frac{s}{\|w\|^2}w\|^2$; the gap is a sum of squares with nonnegative "
        r"coefficients",
        lhs,
        rhs,
        gamma**2 / t**2 * _sos_certificate(),
    )
    x_t = CV.scale(W2) - WV.scale(s)
    p.eq(
        r"Attained at $\varepsilon = 0$ by $g = x' = \|w\|^2c - s\,w$ (the same argument for "
        r"$Q^\top = P - wc^\top/s$, $c$ and $w$ swapped): "
        r"$\|\hat g\|^2 = \frac{\gamma^2\kappa_p^2}{s^2}\|x'\|^2$",
        sq(JT(x_t, s)),
        gamma**2 * kappa_sq * sq(x_t) / s**2,
    )
    # ---------------------------------------------------------------- per p
    p.eq(
        r"$p = 2$: $w = c/(ms_2)$, $\|c\|^2 = ms_2^2$, so $\|w\|^2 = 1/m$ and $\kappa_2 = 1$: "
        r"$Q = P - cc^\top/(ms^2) = Q^\top$ is BatchNorm's orthogonal projector and "
        r"$\|\hat g\|^2 \le \gamma^2\|g\|^2/t^2$",
        kappa_sq.subs({W2: 1 / m, C2: m * s**2}),
        1,
    )
    chat = sympy.Symbol(r"\langle{g}\,c/s\rangle", real=True)
    p.eq(
        r"$p = 2$, exact: $\|\hat g\|^2 = \frac{\gamma^2}{t^2}\big(\|g\|^2 - "
        r"\frac1m\langle\mathbf 1,g\rangle^2 - \lambda(2-\lambda)\frac1m\langle g, "
        r"c/s\rangle^2\big)$, $\lambda = s/t$ (BatchNorm's Theorem 1 in the same variables has "
        r"$\rho(2-\rho)$, $\rho = s^2/\sigma^2$: the two agree at $\varepsilon = 0$)",
        sq(gh).subs({W2: 1 / m, C2: m * s**2, g_w: chat / m, g_c: s * chat}),
        gamma**2 / t**2 * (g_sq - g_one**2 / m - (s / t) * (2 - s / t) * chat**2 / m),
    )
    p.eq(
        r"$p = 1$: $\|c\|^2 = ms_2^2$, $\|w\|^2 = \|P\,\mathrm{sign}(c)\|^2/m^2 = (1 - "
        r"\bar\varsigma^2)/m$, so $\kappa_1^2 = \frac{s_2^2}{s_1^2}(1 - \bar\varsigma^2)$ (not "
        r"$s_2^2/s_1^2$ unless the signs balance)",
        kappa_sq.subs({W2: (1 - sbar**2) / m, C2: m * s_2**2, s: s_1}),
        s_2**2 / s_1**2 * (1 - sbar**2),
    )
    p.eq(
        r"$p = \infty$: $\|w\|^2 = \|Pe_k\|^2 = (m-1)/m$, so "
        r"$\kappa_\infty^2 = (m-1)s_2^2/s_\infty^2$",
        kappa_sq.subs({W2: (m - 1) / m, C2: m * s_2**2, s: s_inf}),
        (m - 1) * s_2**2 / s_inf**2,
    )
    p.check(
        r"$\kappa_p^2$ is the largest eigenvalue of $Q^\top Q$, computed exactly from the layer's "
        r"Jacobian at $\varepsilon = 0$: $p = 1$, $y = (3, 1, -2, -2)$: $9/8$; $p = \infty$, "
        r"$y = (4, -3, 2, -3)$: $57/32$; and $p = 1$, $y = (3, -1, -1, -1)$: $1$, although "
        r"$s_2^2/s_1^2 = 4/3$ (the factor $1 - \bar\varsigma^2 = 3/4$ is needed)",
        _kappa_exact,
    )
    for name, label, point, g, values in _COUNTEREXAMPLES:
        p.check(
            rf"{label} amplifies: $\gamma = 1$, $y = {point}$, $g = {g}$: "
            + ", ".join(
                rf"$\varepsilon = {sympy.latex(e)}$: $\|\hat g\|^2 = {sympy.latex(a)} > "
                rf"{sympy.latex(b)} = \|g\|^2/t^2$"
                for e, a, b in values
            )
            + r" (from the layer's own symbolic Jacobian, with Abs and Max, at the point; exact "
            r"rationals)",
            lambda name=name, point=point, g=g, values=values: _counterexample(
                name, point, g, values
            ),
        )
    p.check(
        r"Curvature: $\sum_i g_i\nabla^2 z_i\,v = \big(2g_n\langle w,v\rangle w - "
        r"\langle w,v\rangle P\tilde g - \langle P\tilde g, v\rangle w - "
        r"g_n\,t\nabla^2t\,v\big)/t^2$, $g_n = \langle\tilde g,c\rangle/t$, $\tilde g = \gamma g$, "
        r"with $t\nabla^2 t\,v = 0$ for $p = 1, \infty$ and "
        r"$\frac{t}{s}(Pv - c\langle w,v\rangle/s)/m$ for $p = 2$; as the bilinear form "
        r"$u^\top(\cdot)v$, exactly, symbolic $y$ (in a region), $g$, $u$, $v$, $\gamma$, "
        r"$\varepsilon$: $m = 3, 4$ for $p = 1$, $m = 3$ for $p = 2, \infty$",
        _hvp,
    )
    return p


def _sos_certificate() -> sympy.Expr:
    r"""$\frac{t^2}{\gamma^2}$ times the gap, as a sum of squares: with
    $D = \|c - \frac{s}{\|w\|^2}w\|^2$ and $N = \|w\|^2Dt^2 + s^3(s+2\varepsilon)$."""
    D, e = d_sq, eps
    N = W2 * D * t**2 + s**3 * (s + 2 * e)
    cc = W2 * N / (s**2 * t**2)  # the delta^2 coefficient
    # half the beta*delta coefficient
    bb = (W2 * D * t**2 + W2 * D * e * s + s**3 * (s + 2 * e)) / (s * t**2)
    det = W2**2 * D**2 * e * (W2 * D * e + 2 * W2 * D * s + 2 * s**3) / (s**4 * t**2)
    return (
        W2 * D / s**2 * r_sq
        + (1 + W2 * D / s**2) * m * alpha**2
        + (cc * delta_ + bb * beta_) ** 2 / cc
        + det / cc * beta_**2
    )


# ------------------------------------------------------------------ explicit checks
_W2_TEXT = {
    1: r"$\|w\|^2 = (1 - \bar\varsigma^2)/m$",
    2: r"$\|w\|^2 = 1/m$",
    "inf": r"$\|w\|^2 = (m-1)/m$",
}
# one rational point per region: distinct |c_k|, no c_k = 0
_REGIONS = {
    2: [(1, 4)],
    3: [(3, -2, -1)],
    4: [(3, 1, -2, -2), (4, -3, 2, -3)],
    5: [(3, 1, -2, -2, 7)],
}


def _region(expr, at):
    """Replace Abs by sign * argument and Max by its largest argument, as they are at ``at``.

    ``at`` is the point (a dict symbol -> value) that names the region.
    """

    def _abs(e):
        v = e.args[0].subs(at)
        if v == 0:
            raise ValueError("the point is on a sign boundary")
        return sympy.sign(v) * e.args[0]

    def _max(e):
        vals = [a.subs(at) for a in e.args]
        if vals.count(max(vals)) != 1:
            raise ValueError("the point is on an argmax boundary")
        return e.args[vals.index(max(vals))]

    expr = expr.replace(lambda e: isinstance(e, sympy.Abs), _abs)
    return expr.replace(lambda e: isinstance(e, sympy.Max), _max)


def _stats(pp, ys, at):
    """c, s, w as column matrices / expressions, by the stated formulas.

    ``w`` comes from its formula, not from a derivative.
    """
    mm = len(ys)
    ones = sympy.ones(mm, 1)
    c = sympy.Matrix([v - sympy.Add(*ys) / mm for v in ys])
    sig = [sympy.sign(ci.subs(at)) for ci in c]
    if pp == 1:
        s_ = sum(a * b for a, b in zip(sig, c)) / mm
        w = (sympy.Matrix(sig) - ones * sum(sig) / mm) / mm
        w2 = (1 - (sum(sig) / mm) ** 2) / mm
    elif pp == "inf":
        k = max(range(mm), key=lambda i: abs(c[i].subs(at)))
        s_ = sig[k] * c[k]
        w = -ones * sig[k] / mm
        w[k] += sig[k]
        w2 = sympy.Rational(mm - 1, mm)
    else:
        # as the layer builds it (m = 2: an Abs)
        s_ = _region(sympy.sqrt(sympy.Add(*[ci**2 for ci in c]) / mm), at)
        w = c / (mm * s_)
        w2 = sympy.Rational(1, mm)
    return c, s_, w, w2


def _zero(expr, s_=None) -> bool:
    """``expr == 0`` exactly.

    With ``s_ = sqrt(b)`` (p = 2), every power of ``sqrt(b)`` is first written as a power of a
    new symbol ``S`` and the numerator is reduced modulo ``S^2 - b`` (faster than simplifying
    the radicals)."""
    if s_ is not None and s_.is_Pow and s_.exp == sympy.S.Half:
        b, S = s_.base, sympy.Dummy("S", positive=True)
        expr = expr.replace(lambda e: e.is_Pow and e.base == b, lambda e: S ** (2 * e.exp))
        num = sympy.fraction(sympy.cancel(sympy.together(expr)))[0]
        return sympy.rem(sympy.Poly(num, S), sympy.Poly(S**2 - b, S)).is_zero
    return sympy.cancel(sympy.together(expr)) == 0


def _facts(name, pp) -> tuple[bool, str]:
    ms_ = range(2, 5) if pp == 2 else range(2, 6)
    count = 0
    for mm in ms_:
        for point in (
            _REGIONS[mm][:1] if pp == 2 else _REGIONS[mm]
        ):  # p = 2 has no regions (m = 2: one Abs)
            z, sym = explicit.forward(name, mm, "eps")
            at = dict(zip(sym.y, point))
            z = [_region(zi, at) for zi in z]
            c, s_, w, w2 = _stats(pp, sym.y, at)
            t_ = s_ + sym.eps
            g = sympy.Matrix(sympy.symbols(f"g0:{mm}", real=True))
            pg = g - sympy.ones(mm, 1) * sum(g) / mm
            J = sympy.Matrix(z).jacobian(sympy.Matrix(sym.y))
            if not all(
                _zero(e, s_) for e in J.T * g - sym.gamma * (pg - w * (c.T * g)[0] / t_) / t_
            ):
                return False, f"J^T g differs at m={mm}, region of {point}"
            if not (
                _zero(sum(w), s_) and _zero((w.T * c)[0] - s_, s_) and _zero((w.T * w)[0] - w2, s_)
            ):
                return False, f"<1,w>, <w,c> or ||w||^2 wrong at m={mm}, region of {point}"
            count += 1
    return True, f"{count} regions (m = {min(ms_)}..{max(ms_)}): all identities exact"


_JACOBIANS: dict = {}


def _jacobian_at(name, point):
    """The layer's own symbolic Jacobian (with Abs, Max, sign, Heaviside) at ``y = point``.

    With ``gamma = 1``; ``eps`` stays a symbol.  Cached: two steps use it."""
    key = (name, point)
    if key not in _JACOBIANS:
        mm = len(point)
        sym = explicit.group_symbols(mm, "eps")
        J = explicit.jacobian(name, mm, "eps")
        _JACOBIANS[key] = (J.subs(dict(zip(sym.y, point)) | {sym.gamma: 1}), sym.eps)
    return _JACOBIANS[key]


def _kappa_exact() -> tuple[bool, str]:
    got = []
    for name, pp, point, want in (
        ("l1batchnorm", 1, (3, 1, -2, -2), sympy.Rational(9, 8)),
        ("linfbatchnorm", "inf", (4, -3, 2, -3), sympy.Rational(57, 32)),
        ("l1batchnorm", 1, (3, -1, -1, -1), sympy.Integer(1)),
    ):
        mm = len(point)
        J, e = _jacobian_at(name, point)
        sym = explicit.group_symbols(mm, 0)
        at = dict(zip(sym.y, point))
        c, s_, w, w2 = _stats(pp, sym.y, at)
        QT_ = J.T.subs(e, 0) * s_.subs(at)  # J^T = Q^T/s at eps = 0, gamma = 1
        top = max((QT_ * QT_.T).eigenvals())
        kap = ((c.T * c)[0] * w2 / s_**2).subs(at)
        if top != want or kap != want:
            return (
                False,
                f"{name} at {point}: largest eigenvalue {top}, kappa^2 {kap}, expected {want}",
            )
        got.append(f"{name} {point}: {top}")
    return True, "; ".join(got)


_COUNTEREXAMPLES = [
    (
        "l1batchnorm",
        r"$p = 1$",
        (3, 1, -2, -2),
        (1, -1, 0, 0),
        [
            (0, sympy.Rational(9, 16), sympy.Rational(1, 2)),
            (sympy.Rational(1, 10), sympy.Rational(98200, 194481), sympy.Rational(200, 441)),
        ],
    ),
    (
        "linfbatchnorm",
        r"$p = \infty$",
        (4, -3, 2, -3),
        (0, -1, 2, -1),
        [
            (0, sympy.Rational(171, 256), sympy.Rational(3, 8)),
            (sympy.Rational(1, 10), sympy.Rational(1758600, 2825761), sympy.Rational(600, 1681)),
        ],
    ),
]


def _counterexample(name, point, g, values) -> tuple[bool, str]:
    mm = len(point)
    out = []
    J, eps_sym = _jacobian_at(name, point)
    z, sym = explicit.forward(name, mm, "eps")
    for e, want_gh, want_bound in values:
        gh = J.T.subs(eps_sym, e) * sympy.Matrix(g)
        n2 = (gh.T * gh)[0]
        c0 = point[0] - sympy.Rational(sum(point), mm)
        # z_0 = c_0/t
        t_ = (c0 / z[0]).subs(dict(zip(sym.y, point)) | {sym.gamma: 1, sym.beta: 0, sym.eps: e})
        bound = sum(v**2 for v in g) / t_**2
        out.append(f"eps={e}: ||ghat||^2 = {n2}, ||g||^2/t^2 = {bound}")
        if not (n2.is_Rational and bound.is_Rational and n2 > bound):
            return False, "; ".join(out)
        if want_gh is not None and (n2 != want_gh or bound != want_bound):
            return False, "; ".join(out) + f" (stated {want_gh}, {want_bound})"
    return True, "; ".join(out)


def _hvp() -> tuple[bool, str]:
    """The bilinear form u^T (sum_i g_i nabla^2 z_i) v from the layer's forward.

    Compared against u^T (formula)."""
    count = 0
    for name, pp, ms_ in (
        ("l1batchnorm", 1, (3, 4)),
        ("l2batchnorm", 2, (3,)),
        ("linfbatchnorm", "inf", (3,)),
    ):
        for mm in ms_:
            point = _REGIONS[mm][0]
            z, sym = explicit.forward(name, mm, "eps")
            at = dict(zip(sym.y, point))
            z = sympy.Matrix([_region(zi, at) for zi in z])
            g, v, u = (sympy.Matrix(sympy.symbols(f"{a}0:{mm}", real=True)) for a in "gvu")
            phi = (g.T * z)[0]
            dv = sum(v[j] * sympy.diff(phi, sym.y[j]) for j in range(mm))
            direct = sum(u[k] * sympy.diff(dv, sym.y[k]) for k in range(mm))
            c, s_, w, _ = _stats(pp, sym.y, at)
            t_ = s_ + sym.eps
            ip = lambda a, b: (a.T * b)[0]
            P_ = lambda x, mm=mm: x - sympy.ones(mm, 1) * sum(x) / mm
            pg = P_(sym.gamma * g)
            gn = ip(sym.gamma * g, c) / t_
            formula = 2 * gn * ip(w, v) * w - ip(w, v) * pg - ip(pg, v) * w
            if pp == 2:
                formula -= gn * (t_ / s_) * (P_(v) - c * ip(w, v) / s_) / mm
            if not _zero(direct - ip(u, formula) / t_**2, s_):
                return False, f"{name}: hvp differs at m={mm}, region of {point}"
            count += 1
    return True, f"{count} cases (p = 1: m = 3, 4; p = 2, inf: m = 3): exact"
