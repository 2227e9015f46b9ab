"""(g) The distance computation inside Lemma 4.5 (favourable initialization)."""

import sympy

from bntheory.symbolic.proof import Proof

a = sympy.Symbol("a", nonnegative=True)  # ||W0||^2
b = sympy.Symbol("b", positive=True)  # <W0, W*>, positive by assumption
s = sympy.Symbol("s", positive=True)  # ||W*||^2
NAMES = {a: r"\|W_0\|^2", b: r"\langle W_0, W^*\rangle", s: r"\|W^*\|^2"}
c = sympy.Symbol("c", real=True)


def build() -> Proof:
    p = Proof(
        id="lemma-4.5",
        title="(g) Lemma 4.5: the distance to the closest rescaled optimum",
        claim=r"For $\langle W_0, W^*\rangle > 0$, $\min_{c > 0}\|W_0 - cW^*\|^2 = \|W_0\|^2 - "
        r"\langle W_0,W^*\rangle^2/\|W^*\|^2 = \|W_0 - W^*\|^2 - (\|W^*\|^2 - \langle W^*, "
        r"W_0\rangle)^2/\|W^*\|^2$, attained at $c^* = \langle W_0,W^*\rangle/\|W^*\|^2$. Hence "
        r"$\|W_0 - \hat W^*\|^2 \le \|W_0 - W^*\|^2 - (\|W^*\|^2 - "
        r"\langle W^*,W_0\rangle)^2/\|W^*\|^2$ **if** every positive multiple $cW^*$ is an optimum "
        r"of the BatchNorm network and $\hat W^*$ is its optimum closest to $W_0$.",
        assumptions=[
            r"$\langle W_0, W^*\rangle > 0$ and $W^* \ne 0$",
            r"(what the lemma needs about the set of optima) the ray $\{cW^* : c > 0\}$ lies in "
            r"the BatchNorm network's set of optima. Scale invariance (proof e) gives "
            r"$\hat{\mathcal L}(cW^*) = \hat{\mathcal L}(W^*)$ only for $\varepsilon = 0$, and "
            r"$W^*$ must first be an optimum of the BatchNorm network at all, which Observation "
            r"4.3 does not give ($\gamma, \beta$ are fixed across batches)",
            r"$\hat W^*$ is the BatchNorm optimum closest to $W_0$ (the reading of “closest "
            r"optimum” used here)",
        ],
        symbol_names=NAMES,
    )
    f = a - 2 * c * b + c**2 * s
    p.eq(
        r"Expand $\|W_0 - cW^*\|^2 = \|W_0\|^2 - 2c\langle W_0,W^*\rangle + c^2\|W^*\|^2$; its "
        r"derivative in $c$ vanishes at $c^*$",
        sympy.diff(f, c).subs(c, b / s),
        0,
    )
    p.le(
        r"... a minimum, as $\frac{d^2}{dc^2} = 2\|W^*\|^2 > 0$; and $c^* > 0$ because "
        r"$\langle W_0, W^*\rangle > 0$",
        0,
        sympy.diff(f, c, 2),
        sympy.diff(f, c, 2),
    )
    fmin = f.subs(c, b / s)
    p.eq(
        r"The minimum value is $\|W_0\|^2 - \langle W_0,W^*\rangle^2/\|W^*\|^2$", fmin, a - b**2 / s
    )
    p.eq(
        r"Rewritten as the lemma prints it: "
        r"$\|W_0 - W^*\|^2 - (\|W^*\|^2 - \langle W^*,W_0\rangle)^2/\|W^*\|^2$",
        fmin,
        (a - 2 * b + s) - (s - b) ** 2 / s,
    )
    p.le(
        r"Any optimum at least as close as $c^*W^*$ satisfies the bound; the gain over $W^*$ is a "
        r"square over $\|W^*\|^2$",
        fmin,
        a - 2 * b + s,
        (s - b) ** 2 / s,
    )
    return p
