r"""(o) The parameter blocks: derivatives of a normalization layer in (y, weight, bias) jointly.

Per group, :math:`z_i = \gamma_i n_i + \beta_i` with :math:`n` the layer's normalized values
(its symbolic forward with :math:`\gamma = 1`, :math:`\beta = 0`) and an elementwise affine map,
the most general one: a layer whose weight is shared over a group (BatchNorm's channel) sums
these blocks over the entries that share it (:mod:`bntheory.norms.affine`'s :math:`R_W`).
For :math:`L = \langle g, z\rangle` every block that involves the weight or the bias (the
gradient's and the Hessian's; the input's own blocks are proofs (a)-(i)) is checked against
SymPy's derivatives of the layer's symbolic forward, with symbolic :math:`y`, :math:`g`,
:math:`\varepsilon > 0` and tangents, for :math:`m = 2, 3, 4`, for a centering layer
(BatchNorm/LayerNorm/GroupNorm/InstanceNorm per group) and one that does not center (RMSNorm).

``build(closed=...)`` takes the closed forms it checks, so a test can hand it one with a
dropped term and see the step fail.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy

from bntheory.symbolic import explicit
from bntheory.symbolic.proof import Proof, is_zero

M_VALUES = (2, 3, 4)
LAYERS = {"batchnorm": True, "rmsnorm": False}  # the layer and whether it centers
eps = explicit.group_symbols(2, "eps").eps  # the symbolic, positive eps of every group


def group(name: str, m: int):
    """Symbols of one group and the layer's normalized values ``n`` (gamma 1, beta 0): the
    registered layer's symbolic forward (:func:`bntheory.symbolic.explicit.forward`, which
    imports the layers only when called)."""
    z, sym = explicit.forward(name, m, "eps")
    n = [sympy.sympify(e).subs({sym.gamma: 1, sym.beta: 0}) for e in z]
    return list(sym.y), n


def jn(v: list, y: list, center: bool) -> list:
    r"""The closed form :math:`J_n v = \frac1t\big(Pv - c\,\langle w, v\rangle/t\big)`,
    :math:`w = c/(mt)` (and :math:`J_n^\top = J_n`: :math:`w \parallel c`)."""
    m = len(y)
    mean = lambda u: sum(u) / m
    c = [yi - mean(y) for yi in y] if center else list(y)
    t = sympy.sqrt(mean([ci**2 for ci in c]) + eps)
    pv = [vi - mean(v) for vi in v] if center else list(v)
    wv = sum(ci * vi for ci, vi in zip(c, v)) / (m * t)
    return [(pvi - ci * wv / t) / t for pvi, ci in zip(pv, c)]


#: The closed forms of :mod:`bntheory.norms.affine` for one group, elementwise parameters:
#: ``(y, n, g, v, u, center) -> {block: [entries]}`` with ``u`` the weight's tangent.
Closed = Callable[..., dict[str, list]]


def closed_forms(y, n, g, v, u, center) -> dict[str, list]:
    """Gradient ``(weight, bias)``, mixed HVP blocks ``x <- weight`` and ``weight <- x``."""
    jv = jn(v, y, center)
    return {
        "grad_weight": [gi * ni for gi, ni in zip(g, n)],
        "grad_bias": list(g),
        "hvp_x_from_weight": jn([ui * gi for ui, gi in zip(u, g)], y, center),
        "hvp_weight_from_x": [gi * jvi for gi, jvi in zip(g, jv)],
    }


def _blocks(name: str, center: bool, m: int, closed: Closed) -> tuple[bool, str]:
    y, n = group(name, m)
    gam = list(sympy.symbols(f"gamma0:{m}", real=True))
    bet = list(sympy.symbols(f"beta0:{m}", real=True))
    g = list(sympy.symbols(f"g0:{m}", real=True))
    v = list(sympy.symbols(f"v0:{m}", real=True))
    u = list(sympy.symbols(f"u0:{m}", real=True))
    L = sum(gi * (ga * ni + be) for gi, ga, ni, be in zip(g, gam, n, bet))
    derived = {
        "grad_weight": [sympy.diff(L, ga) for ga in gam],
        "grad_bias": [sympy.diff(L, be) for be in bet],
        "hvp_x_from_weight": [
            sum(sympy.diff(L, yj, ga) * uk for ga, uk in zip(gam, u)) for yj in y
        ],
        "hvp_weight_from_x": [
            sum(sympy.diff(L, ga, yj) * vj for yj, vj in zip(y, v)) for ga in gam
        ],
    }
    zero_blocks = [sympy.diff(L, a, b) for a in gam + bet for b in gam + bet] + [
        sympy.diff(L, yj, be) for yj in y for be in bet
    ]
    if any(e != 0 for e in zero_blocks):
        return False, f"{name}, m={m}: a block of H_WW, H_BB, H_WB or H_xB is not zero"
    mine = closed(y, n, g, v, u, center)
    for block, entries in derived.items():
        for i, (a, b) in enumerate(zip(entries, mine[block])):
            if not is_zero(a - b):
                return False, f"{name}, m={m}: {block}[{i}] differs"
    return True, ""


def _all(closed: Closed) -> Callable[[], tuple[bool, str]]:
    def run() -> tuple[bool, str]:
        for name, center in LAYERS.items():
            for m in M_VALUES:
                ok, detail = _blocks(name, center, m, closed)
                if not ok:
                    return ok, detail
        return True, f"{', '.join(LAYERS)}; m = {', '.join(map(str, M_VALUES))}; every entry"

    return run


def build(closed: Closed = closed_forms) -> Proof:
    """The proof of the parameter blocks (``closed``: the closed forms it checks)."""
    p = Proof(
        id="affine-blocks",
        title="(o) The parameter blocks: gradient and Hessian in (y, weight, bias) jointly",
        claim=r"For $z = \gamma\odot n(y) + \beta$ and $L = \langle g, z\rangle$: "
        r"$\nabla_\gamma L = g\odot n$, $\nabla_\beta L = g$; the Hessian's blocks "
        r"$H_{\gamma\gamma}$, $H_{\beta\beta}$, $H_{\gamma\beta}$, $H_{y\beta}$ vanish, and "
        r"$H_{y\gamma}u = J_n^\top(u\odot g)$, $H_{\gamma y}v = g\odot J_n v$, with "
        r"$J_n v = \frac1t\big(Pv - c\,\langle w,v\rangle/t\big)$, $w = c/(mt)$ "
        r"($P = I - \frac1m\mathbf 1\mathbf 1^\top$ for a centering layer, $I$ for RMSNorm). "
        r"A weight shared over a group sums these over the entries that share it.",
        assumptions=[r"$\varepsilon > 0$ (or a group with $\overline{c^2} > 0$)"],
    )
    p.check(
        r"Every block against SymPy's derivatives of the registered layers' symbolic forward "
        r"(`batchnorm`, centering; `rmsnorm`, not), elementwise $\gamma$, $\beta$, symbolic "
        r"$y$, $g$, $v$, $u$, $\varepsilon$, for $m = 2, 3, 4$; the four vanishing blocks are "
        r"identically 0",
        _all(closed),
    )
    return p
