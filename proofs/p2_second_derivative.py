"""(b) The second-derivative tensor of BatchNorm, for every m and eps >= 0."""

import sympy

from bntheory.symbolic import general as G
from bntheory.symbolic.checks import compare_with_explicit
from bntheory.symbolic.proof import Proof

# explicit Hessians grow fast (m = 8: a minute); benchmarks/symbolic.py and a slow test go to m = 8
EXPLICIT_M = range(2, 5)


def build() -> Proof:
    p = Proof(
        id="second-derivative",
        title="(b) The second-derivative tensor of BatchNorm",
        claim=r"For every $m \ge 2$ and $\varepsilon \ge 0$, with "
        r"$P_{ab} = \delta_{ab} - \frac1m$, $T_{ikl} = \frac{\partial^2 z_i}{\partial y_k "
        r"\partial y_l} = \frac{\gamma}{m\sigma^2}\Big(\frac3m \hat y_i\hat y_k\hat y_l - "
        r"P_{il}\hat y_k - P_{ik}\hat y_l - P_{kl}\hat y_i\Big)$, symmetric in all three indices.",
        assumptions=[r"$\mathrm{var} + \varepsilon > 0$"],
    )
    first = G.total_derivative(G.forward_indexed("i"), "k")
    second = G.total_derivative(first, "l")
    p.eq(
        r"Differentiate the (derived) Jacobian $D_k z_i$ once more along $y_l$ with the same chain "
        r"rule ($D_l \delta_{ik} = 0$); in $\hat y$, $\sigma$:",
        G.to_yhat(second),
        G.second_derivative_closed_form(),
    )
    t = G.second_derivative_closed_form()
    swap = lambda e, a, b: e.subs(
        {G.yhat[a]: G.yhat[b], G.yhat[b]: G.yhat[a]}, simultaneous=True
    ).subs(
        {G.d(a, c): G.d(b, c) for c in G.INDICES if c not in (a, b)}
        | {G.d(b, c): G.d(a, c) for c in G.INDICES if c not in (a, b)},
        simultaneous=True,
    )
    p.eq(r"Symmetric in $k \leftrightarrow l$ (as a Hessian must be)", t, swap(t, "k", "l"))
    p.eq(r"Symmetric in $i \leftrightarrow k$", t, swap(t, "i", "k"))
    for eps in (0, sympy.Rational(1, 2)):
        p.check(
            rf"Agrees with SymPy's explicit second derivatives for "
            rf"$m = 2, \dots, {max(EXPLICIT_M)}$, $\varepsilon = {sympy.latex(eps)}$, at random "
            rf"rational points in 60-digit arithmetic",
            lambda eps=eps: _agree(EXPLICIT_M, eps),
        )
    return p


def _agree(ms, eps) -> tuple[bool, str]:
    worst = max(compare_with_explicit("hessian", m, eps) for m in ms)
    return worst < 1e-40, f"largest relative discrepancy {worst:.1e} (60 digits; threshold 1e-40)"
