"""(a) The Jacobian of BatchNorm, for every batch size m and every eps >= 0."""

import sympy

from bntheory.symbolic import general as G
from bntheory.symbolic.checks import compare_with_explicit
from bntheory.symbolic.proof import Proof

EXPLICIT_M = range(2, 7)  # m = 7, 8 in benchmarks/symbolic.py and the slow tests


def build() -> Proof:
    p = Proof(
        id="jacobian",
        title="(a) The Jacobian of BatchNorm",
        claim=r"For every $m \ge 2$ and $\varepsilon \ge 0$, "
        r"$J_{ik} = \partial z_i/\partial y_k = \frac{\gamma}{\sigma}\big(\delta_{ik} - \frac1m - "
        r"\frac1m \hat y_i \hat y_k\big)$.",
        assumptions=[
            r"$\mathrm{var} + \varepsilon > 0$ (so $\sigma > 0$)",
            r"$\gamma, \beta$ fixed",
        ],
    )
    a = sympy.Symbol("a")
    ya = sympy.Symbol("y_a", real=True)
    p.define("batch mean", G.mu, sympy.Sum(ya, (a, 1, G.m)) / G.m)
    p.define("batch variance (biased)", G.var, sympy.Sum((ya - G.mu) ** 2, (a, 1, G.m)) / G.m)
    p.define("normalized value", G.yhat["i"], (G.y["i"] - G.mu) / G.sigma)
    p.define("output", sympy.Symbol("z_i"), G.forward_indexed("i"))
    p.check(
        r"Lemma: $\partial\mu/\partial y_k = \frac1m$ and "
        r"$\partial\mathrm{var}/\partial y_k = \frac2m\sum_j (y_j-\mu)(\delta_{jk}-\frac1m) = "
        r"\frac2m(y_k-\mu)$, as $\sum_j (y_j-\mu) = 0$; checked exactly for explicit "
        r"$m = 2, \dots, 8$",
        lambda: _stat_partials(range(2, 9)),
    )
    derived = G.total_derivative(G.forward_indexed("i"), "k")
    p.eq(
        r"Chain rule: $D_k z_i = \partial_{y_i} z_i\,\delta_{ik} + \partial_\mu z_i \cdot \frac1m "
        r"+ \partial_{\mathrm{var}} z_i \cdot \frac2m (y_k-\mu)$",
        derived,
        G.gamma * G.d("i", "k") / sympy.sqrt(G.var + G.eps)
        - G.gamma / (G.m * sympy.sqrt(G.var + G.eps))
        - G.gamma
        * (G.y["i"] - G.mu)
        * (G.y["k"] - G.mu)
        / (G.m * (G.var + G.eps) ** sympy.Rational(3, 2)),
    )
    p.eq(
        r"In $\hat y$ and $\sigma$ this is the closed form ($\varepsilon$ enters only through "
        r"$\sigma$)",
        G.to_yhat(derived),
        G.jacobian_closed_form(),
    )
    for eps in (0, sympy.Rational(1, 2)):
        p.check(
            rf"Agrees with SymPy's explicit Jacobian for $m = 2, \dots, {max(EXPLICIT_M)}$, "
            rf"$\varepsilon = {sympy.latex(eps)}$, "
            r"at random rational points in 60-digit arithmetic",
            lambda eps=eps: _agree("jacobian", EXPLICIT_M, eps),
        )
    return p


def _stat_partials(ms) -> tuple[bool, str]:
    for m in ms:
        ys = sympy.symbols(f"y0:{m}", real=True)
        mu = sum(ys) / m
        var = sum((t - mu) ** 2 for t in ys) / m
        for k, yk in enumerate(ys):
            if sympy.expand(sympy.diff(mu, yk) - sympy.Rational(1, m)) != 0:
                return False, f"d mu/d y{k} wrong at m={m}"
            if sympy.expand(sympy.diff(var, yk) - 2 * (yk - mu) / m) != 0:
                return False, f"d var/d y{k} wrong at m={m}"
    return True, f"m = {min(ms)}..{max(ms)}: identities hold exactly"


def _agree(what, ms, eps) -> tuple[bool, str]:
    worst = max(compare_with_explicit(what, m, eps) for m in ms)
    return worst < 1e-40, f"largest relative discrepancy {worst:.1e} (60 digits; threshold 1e-40)"
