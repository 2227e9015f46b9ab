r"""(n) Scale invariance before LayerNorm and RMSNorm, and what eps > 0 changes.

For LayerNorm and RMSNorm the statistics are taken over the features of one sample, so the
scale-invariant parameter group is the whole weight matrix $W$ in $y = Wx$ (every feature of
$y$ scales together), not one row as for BatchNorm (:mod:`p5_scale_invariance`).  The steps
are written out for $n = 3$ features of one sample with SymPy symbols; the batch enters only
through a sum over samples, each with its own statistics.

``build(layers=..., correction=...)`` takes the forms it proves things about, so a test can
hand it a changed layer or a wrong correction and see a step fail.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy

from bntheory.symbolic.proof import Proof

N = 3
y = sympy.symbols("y1:4", real=True)
gamma = sympy.symbols("gamma1:4", real=True)
beta = sympy.symbols("beta1:4", real=True)
a = sympy.symbols("a1:4", real=True)  # the loss L(z) = sum_i a_i z_i + b_i z_i^2 / 2
b = sympy.symbols("b1:4", real=True)
eps = sympy.Symbol("varepsilon", positive=True)
c = sympy.Symbol("c", positive=True)
eta = sympy.Symbol("eta", positive=True)

#: ``layer(y, eps) -> (z, yhat, sigma2)``: the output, the normalized features and the
#: denominator's square, feature by feature.
Layer = Callable[[list, sympy.Expr], tuple[list, list, sympy.Expr]]


def layernorm(v: list, e: sympy.Expr) -> tuple[list, list, sympy.Expr]:
    r"""LayerNorm of one sample: $\hat y_i = (y_i - \mu)/\sigma$,
    $\sigma^2 = \mathrm{var} + \varepsilon$, $z_i = \gamma_i\hat y_i + \beta_i$ (biased variance
    over the $n$ features)."""
    mu = sum(v) / N
    sigma2 = sum((t - mu) ** 2 for t in v) / N + e
    yhat = [(t - mu) / sympy.sqrt(sigma2) for t in v]
    return [gamma[i] * yhat[i] + beta[i] for i in range(N)], yhat, sigma2


def rmsnorm(v: list, e: sympy.Expr) -> tuple[list, list, sympy.Expr]:
    r"""RMSNorm of one sample: $\hat y_i = y_i/\sigma$,
    $\sigma^2 = \frac1n\sum_k y_k^2 + \varepsilon$, $z_i = \gamma_i\hat y_i$ (no centering,
    no bias)."""
    sigma2 = sum(t**2 for t in v) / N + e
    yhat = [t / sympy.sqrt(sigma2) for t in v]
    return [gamma[i] * yhat[i] for i in range(N)], yhat, sigma2


def exact_correction(yhat: list, sigma2: sympy.Expr, g: list) -> sympy.Expr:
    r"""The exact value of $\sum_k y_k\,\partial L/\partial y_k$ for one sample:
    $\frac{\varepsilon}{\sigma^2}\langle\gamma\odot g, \hat y\rangle$."""
    return eps / sigma2 * sum(gamma[i] * g[i] * yhat[i] for i in range(N))


LAYERS: dict[str, Layer] = {"LayerNorm": layernorm, "RMSNorm": rmsnorm}

#: One rational point for the Hessian step (its exact value is an algebraic number).
POINT = dict(
    zip(
        (*y, *gamma, *a, *b),
        map(sympy.Rational, (3, -1, 1, 2, -3, 1, 1, -2, 3, 1, 2, -1)),
        strict=True,
    )
) | {eps: sympy.Rational(1, 10), c: sympy.Rational(5, 2)}


def _scaled(expr: sympy.Expr) -> sympy.Expr:
    return sympy.sympify(expr).subs({t: c * t for t in y}, simultaneous=True)


def _layer_steps(p: Proof, name: str, layer: Layer, correction) -> None:
    z, yhat, sigma2 = layer(list(y), eps)
    zc = [_scaled(t) for t in z]
    z_small = [t.subs(eps, eps / c**2) for t in z]
    p.eq(
        rf"{name}: the statistics are homogeneous, so "
        rf"$\mathrm{{{name}}}_\varepsilon(cy) = \mathrm{{{name}}}_{{\varepsilon/c^2}}(y)$ "
        r"feature by feature ($c > 0$)",
        sympy.Matrix(zc),
        sympy.Matrix(z_small),
    )
    p.eq(
        rf"{name}: with $\varepsilon = 0$ the output ignores the scale: "
        rf"$\mathrm{{{name}}}(cy) = \mathrm{{{name}}}(y)$",
        sympy.Matrix(zc).subs(eps, 0),
        sympy.Matrix(z).subs(eps, 0),
    )
    p.eq(
        rf"{name}: Euler's relation, $\frac{{d}}{{dc}} z_i(cy)\big|_{{c=1}} = \sum_k J_{{ik}}y_k "
        r"= \gamma_i\frac{\varepsilon}{\sigma^2}\hat y_i$",
        sympy.Matrix([sympy.diff(t, c).subs(c, 1) for t in zc]),
        sympy.Matrix([gamma[i] * eps / sigma2 * yhat[i] for i in range(N)]),
    )
    jac = sympy.Matrix(N, N, lambda i, k: sympy.diff(z[i], y[k]))
    p.eq(
        rf"{name}: the Jacobian at $cy$ is $J_{{\varepsilon/c^2}}(y)/c$, so "
        r"$\nabla F_\varepsilon(cW) = \nabla F_{\varepsilon/c^2}(W)/c$, and with "
        r"$\varepsilon = 0$ $\nabla F(cW) = \nabla F(W)/c$",
        jac.applyfunc(_scaled),
        jac.subs(eps, eps / c**2) / c,
    )
    loss = sum(a[i] * z[i] + b[i] * z[i] ** 2 / 2 for i in range(N))
    g = [a[i] + b[i] * z[i] for i in range(N)]  # dL/dz
    inner = sum(y[k] * sympy.diff(loss, y[k]) for k in range(N))
    p.eq(
        rf"{name}: for $L(z) = \sum_i a_iz_i + \tfrac12 b_iz_i^2$ ($g = \partial L/\partial z = "
        r"a + b\odot z$): $\sum_k y_k\frac{\partial L}{\partial y_k} = "
        r"\frac{\varepsilon}{\sigma^2}\langle\gamma\odot g, \hat y\rangle$",
        inner,
        correction(yhat, sigma2, g),
    )
    p.eq(
        rf"{name}: with $\varepsilon = 0$, $\sum_k y_k\,\partial L/\partial y_k = 0$",
        inner.subs(eps, 0),
        0,
    )
    hess = sympy.Matrix(N, N, lambda k, m: sympy.diff(loss, y[k], y[m]))
    p.eq(
        rf"{name}: differentiating $F_\varepsilon(cW) = F_{{\varepsilon/c^2}}(W)$ twice gives "
        r"$\nabla^2F_\varepsilon(cW) = \nabla^2F_{\varepsilon/c^2}(W)/c^2$; checked exactly at "
        r"one rational point ($y = (3,-1,1)$, $\gamma = (2,-3,1)$, $a = (1,-2,3)$, "
        r"$b = (1,2,-1)$, $\varepsilon = 1/10$, $c = 5/2$)",
        hess.applyfunc(_scaled).subs(POINT),
        (hess.subs(eps, eps / c**2) / c**2).subs(POINT),
    )


def build(layers: dict[str, Layer] | None = None, correction=exact_correction) -> Proof:
    """The proof for ``layers`` (LayerNorm and RMSNorm by default) and the ``eps > 0``
    ``correction`` it claims."""
    p = Proof(
        id="scale-invariance-groups",
        title="(n) Scale invariance before LayerNorm and RMSNorm: the whole weight matrix, "
        "and the eps > 0 correction",
        claim=r"Let $y_b = Wx_b$ feed LayerNorm or RMSNorm (statistics over the features of each "
        r"sample) and $F(W) = \sum_b L(z_b)$. For $c > 0$: "
        r"$\mathrm{N}_\varepsilon(cy) = \mathrm{N}_{\varepsilon/c^2}(y)$, so with "
        r"$\varepsilon = 0$ $F(cW) = F(W)$, $\langle\nabla F(W), W\rangle = 0$, "
        r"$\nabla F(cW) = \nabla F(W)/c$, $\nabla^2F(cW) = \nabla^2F(W)/c^2$ and gradient "
        r"descent gives $\|W_{t+1}\|^2 = \|W_t\|^2 + \eta^2\|\nabla F(W_t)\|^2$. With "
        r"$\varepsilon > 0$: $\langle\nabla F(W), W\rangle = \sum_b\frac{\varepsilon}{\sigma_b^2}"
        r"\langle\gamma\odot g_b, \hat y_b\rangle$ and $\|W_{t+1}\|^2 = \|W_t\|^2 + "
        r"\eta^2\|\nabla F\|^2 - 2\eta\sum_b\frac{\varepsilon}{\sigma_b^2}"
        r"\langle\gamma\odot g_b, \hat y_b\rangle$.",
        assumptions=[
            r"$c > 0$, $\varepsilon \ge 0$",
            r"$\sigma_b^2 > 0$ for every sample",
            r"$\gamma, \beta$ are not scaled; the whole matrix $W$ is",
        ],
    )
    for name, layer in (layers or LAYERS).items():
        _layer_steps(p, name, layer, correction)
    weights = sympy.Matrix(3, 2, sympy.symbols("w1:7", real=True))
    x = sympy.Matrix(sympy.symbols("x1:3", real=True))
    f = sympy.Function("f")
    out = weights * x
    total = f(*out)
    free = sympy.symbols("u1:4", real=True)
    p.eq(
        r"The chain rule for any differentiable $f$ of $y = Wx$ ($W$ of shape $3\times 2$): "
        r"$\langle\nabla_W f(Wx), W\rangle = \sum_{ij}W_{ij}\frac{\partial f}{\partial W_{ij}} = "
        r"\sum_i y_i\,\partial_i f(y)$; summed over the samples this makes "
        r"$\langle\nabla F(W), W\rangle = \sum_b\sum_k y_{bk}\,\partial L/\partial y_{bk}$, the "
        r"sum of the per-sample values above",
        sum(weights[i, j] * sympy.diff(total, weights[i, j]) for i in range(3) for j in range(2)),
        sum(
            out[i] * sympy.diff(f(*free), free[i]).subs(dict(zip(free, out, strict=True)))
            for i in range(3)
        ),
    )
    w = sympy.Matrix(sympy.symbols("W1:4", real=True))
    grad = sympy.Matrix(sympy.symbols("G1:4", real=True))
    step = w - eta * grad
    p.eq(
        r"A gradient step $W_{t+1} = W_t - \eta\nabla F(W_t)$: "
        r"$\|W_{t+1}\|^2 = \|W_t\|^2 - 2\eta\langle\nabla F, W_t\rangle + \eta^2\|\nabla F\|^2$; "
        r"with $\langle\nabla F, W_t\rangle$ the correction above (0 when $\varepsilon = 0$) "
        r"this is the norm-growth law",
        (step.T * step)[0],
        (w.T * w)[0] - 2 * eta * (grad.T * w)[0] + eta**2 * (grad.T * grad)[0],
    )
    return p
