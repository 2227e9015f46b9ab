"""(e) Scale invariance of BatchNorm in the weights, and what eps > 0 changes."""

import sympy

from bntheory.symbolic import general as G
from bntheory.symbolic.proof import Proof

c = sympy.Symbol("c", positive=True)


def scaled(expr: sympy.Expr) -> sympy.Expr:
    r"""The expression at the batch $c\,y$.

    $\mu \to c\mu$, $\mathrm{var} \to c^2\mathrm{var}$, $y_a \to c\,y_a$.
    """
    sub = {G.mu: c * G.mu, G.var: c**2 * G.var} | {G.y[a]: c * G.y[a] for a in G.INDICES}
    return expr.subs(sub, simultaneous=True)


def build() -> Proof:
    p = Proof(
        id="scale-invariance",
        title="(e) Scale invariance: BatchNorm ignores the scale of the weights (when eps = 0)",
        claim=r"Let $y = Wx$ (per sample) feed BatchNorm and "
        r"$\hat{\mathcal L}(W) = \mathcal L(\mathrm{BN}(Wx))$. With $\varepsilon = 0$ and $c > 0$: "
        r"$\hat{\mathcal L}(cW) = \hat{\mathcal L}(W)$, "
        r"$\langle\nabla_W\hat{\mathcal L}, W\rangle = 0$ and "
        r"$\nabla\hat{\mathcal L}(cW) = \nabla\hat{\mathcal L}(W)/c$. With $\varepsilon > 0$ all "
        r"three fail: $\mathrm{BN}_\varepsilon(cy) = \mathrm{BN}_{\varepsilon/c^2}(y)$ and "
        r"$\langle\nabla_W\hat{\mathcal L}, W\rangle = "
        r"\frac{\gamma\varepsilon}{\sigma^2}\langle g,\hat y\rangle$ per channel.",
        assumptions=[r"$c > 0$", r"$\mathrm{var} > 0$", r"$\gamma, \beta$ are not scaled"],
    )
    z = G.forward_indexed("i")
    p.eq(
        r"The statistics are homogeneous: $\mu(cy) = c\mu(y)$, "
        r"$\mathrm{var}(cy) = c^2\mathrm{var}(y)$, so with $\varepsilon = 0$ "
        r"$z_i(cy) = \gamma\frac{c(y_i-\mu)}{\sqrt{c^2\mathrm{var}}} + \beta = z_i(y)$ ($c > 0$)",
        scaled(z).subs(G.eps, 0),
        z.subs(G.eps, 0),
    )
    p.eq(
        r"With $\varepsilon \ge 0$: $z_i(cy)$ is BatchNorm of $y$ with $\varepsilon/c^2$",
        scaled(z),
        z.subs(G.eps, G.eps / c**2),
    )
    dz = sympy.diff(scaled(z), c).subs(c, 1)
    p.eq(
        r"Euler's relation: $\frac{d}{dc} z_i(cy)\big|_{c=1} = \sum_k J_{ik} y_k$; with "
        r"$\varepsilon \ge 0$ it equals $\frac{\gamma\varepsilon}{\sigma^2}\hat y_i$",
        G.to_yhat(dz),
        G.gamma * G.eps / G.sigma**2 * G.yhat["i"],
    )
    y_vec = G.ONE.scale(G.mu) + G.YHAT.scale(G.sigma)  # y = mu 1 + sigma yhat
    inner = G.contract(G.jacobian_closed_form(), {"i": G.G, "k": y_vec})
    p.eq(
        r"So $\langle\hat g, y\rangle = \sum_{ik} g_i J_{ik} y_k = "
        r"\frac{\gamma}{\sigma}(1-\rho)\langle g, \sigma\hat y\rangle$, and "
        r"$\langle\nabla_W\hat{\mathcal L}, W\rangle = \sum_b \hat g_b^\top W x_b = "
        r"\langle \hat g, y\rangle$ $= \frac{\gamma\varepsilon}{\sigma^2}\langle g,\hat y\rangle$ "
        r"(with $1-\rho = \varepsilon/\sigma^2$)",
        inner.subs(G.rho, 1 - G.eps / G.sigma**2),
        G.gamma * G.eps / G.sigma**2 * G.g_yhat,
    )
    p.eq(
        r"$\varepsilon = 0$: $\langle\nabla_W\hat{\mathcal L}, W\rangle = 0$",
        inner.subs(G.rho, 1),
        0,
    )
    jac = G.total_derivative(z, "k").subs(G.eps, 0)
    p.eq(
        r"$\varepsilon = 0$: the (derived) Jacobian evaluated at $cy$ is $J(y)/c$, so "
        r"$\hat g(cy) = \hat g(y)/c$ and $\nabla_W\hat{\mathcal L}(cW) = \sum_b \hat g_b(cy) "
        r"x_b^\top = \nabla_W\hat{\mathcal L}(W)/c$",
        scaled(jac),
        jac / c,
    )
    d_sigma = sympy.sqrt(c**2 * G.var + G.eps) - c * sympy.sqrt(G.var + G.eps)
    p.eq(
        r"$\varepsilon > 0$: $\sigma(cy) = \sqrt{c^2\mathrm{var}+\varepsilon} \neq c\sigma$ unless "
        r"$c = 1$; the difference is $\frac{(1-c^2)\varepsilon}{\sqrt{c^2\mathrm{var}+\varepsilon} "
        r"+ c\sigma}$",
        d_sigma,
        (1 - c**2) * G.eps / (sympy.sqrt(c**2 * G.var + G.eps) + c * sympy.sqrt(G.var + G.eps)),
    )
    return p
