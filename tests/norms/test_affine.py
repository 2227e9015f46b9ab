"""The closed forms of the parameter blocks (``bntheory.norms.affine``): against autograd of
each layer's textbook forward, against SymPy at an explicit ``m``, and wrong when a term is
dropped."""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st

from bntheory.norms import affine
from bntheory.norms.batchnorm import BatchNorm
from bntheory.verify import routes
from bntheory.verify.errormodel import ratio, relative_tolerance

FUNCTIONS = sorted(f for f in routes.FUNCTIONS if not f.startswith("nn."))


def _reference(case: routes.Case):
    """Gradient, output tangents and HVPs by autograd of the textbook forward (float64)."""
    fn = case.function
    d64 = lambda t: t.to(torch.float64)
    extra = {k: (d64(v) if isinstance(v, torch.Tensor) else v) for k, v in case.extra.items()}
    names = {"torch": torch, fn.textbook.__name__: fn.textbook, **extra}
    f = eval(fn.textbook_call, names)
    primals = [d64(p) for p in case.primals]
    g = [d64(c) for c in case.cotangents]
    tangents = [tuple(d64(t) for t in v) for v in case.tangents]
    out = routes.route_autograd_grad(f, primals, g, tangents)
    out |= routes.route_forward_ad(f, primals, g, tangents)
    out |= routes.route_autograd_double_backward(f, primals, g, tangents)
    return out


def _worst(case: routes.Case, exact: dict, ref: dict) -> float:
    """The largest error / allowed of the closed forms against the reference."""
    kappa = torch.tensor(exact["condition"][0], dtype=torch.float64)
    tol = float(relative_tolerance(torch.float64, kappa, exact["length"][0]))
    worst = 0.0
    for kind in ("grad", "jvp", "hvp"):
        for i, (closed, scale) in enumerate(exact[kind][: len(ref[kind])]):
            value = (ref[kind][i],) if kind == "jvp" else ref[kind][i]
            total = sum(float(s) for _, s in scale.items())
            for (_, a), b in zip(closed.items(), value):
                err = torch.linalg.vector_norm(a - b)
                r = float(ratio(err, torch.tensor(tol * total)))
                worst = max(worst, math.inf if math.isnan(r) else r)  # a NaN never agrees
    return worst


@pytest.mark.parametrize("function", FUNCTIONS)
@given(
    sizes=st.tuples(st.integers(2, 4), st.integers(1, 3), st.integers(1, 3)),
    seed=st.integers(0, 2**16),
    eps=st.sampled_from((1e-5, 1e-3, 0.1)),
    weight=st.sampled_from(("mixed", "positive", "negative", "zero")),
)
def test_blocks_match_autograd_of_the_textbook_forward(function, sizes, seed, eps, weight):
    """Every block, every direction, within the error model."""
    case = routes.build(routes.draw(function, "float64", "cpu", sizes, seed, eps, weight, 1, 1))
    ratio = _worst(case, routes.exact(case), _reference(case))
    assert ratio <= 1, (function, ratio)


def _dropped(monkeypatch, which: str) -> None:
    """Replace a closed form with one that leaves out one of its terms."""
    hvp, gradient, jvp = affine.hvp, affine.gradient, affine.jvp

    def hvp_without_mixed_x(c, g, tangent):  # drop J_n^T(dgamma * g) from the x block
        h = hvp(c, g, tangent)
        mixed = hvp(c, g, affine.Blocks(torch.zeros_like(tangent.x), tangent.weight, None)).x
        return affine.Blocks(h.x - mixed, h.weight, h.bias)

    def hvp_without_weight(c, g, tangent):  # drop R_W(g * J_n v)
        h = hvp(c, g, tangent)
        return affine.Blocks(h.x, torch.zeros_like(h.weight), h.bias)

    def gradient_without_n(c, g):  # R_W(g) instead of R_W(g * n)
        b = gradient(c, g)
        return affine.Blocks(b.x, c.reduce("weight", c.plan.view(g)), b.bias)

    def jvp_without_weight(c, tangent):  # drop dgamma * n
        return jvp(c, affine.Blocks(tangent.x, None, tangent.bias))

    def jvp_without_bias(c, tangent):  # drop dbeta
        return jvp(c, affine.Blocks(tangent.x, tangent.weight, None))

    def gradient_without_bias(c, g):  # R_B g dropped
        b = gradient(c, g)
        return affine.Blocks(b.x, b.weight, torch.zeros_like(b.bias))

    table = {
        "hvp-mixed-x": ("hvp", hvp_without_mixed_x),
        "hvp-weight": ("hvp", hvp_without_weight),
        "gradient-n": ("gradient", gradient_without_n),
        "jvp-weight": ("jvp", jvp_without_weight),
        "jvp-bias": ("jvp", jvp_without_bias),
        "gradient-bias": ("gradient", gradient_without_bias),
    }
    name, fn = table[which]
    monkeypatch.setattr(affine, name, fn)


WHICH = ["hvp-mixed-x", "hvp-weight", "gradient-n", "jvp-weight", "jvp-bias", "gradient-bias"]


@pytest.mark.parametrize("which", WHICH)
@pytest.mark.parametrize("function", ["layer_norm", "batch_norm", "group_norm", "batch_norm.eval"])
def test_a_dropped_term_fails(monkeypatch, function, which):
    """The check can fail: each closed form, one term short, disagrees with autograd."""
    case = routes.build(routes.draw(function, "float64", "cpu", (3, 2, 2), 7, 1e-3, "mixed", 1, 1))
    assert _worst(case, routes.exact(case), _reference(case)) <= 1
    _dropped(monkeypatch, which)
    assert _worst(case, routes.exact(case), _reference(case)) > 1e3


def test_blocks_match_sympy_at_explicit_m():
    """One BatchNorm channel of m = 3 values: the blocks against SymPy's derivatives of the
    layer's symbolic forward in (y, gamma, beta), at a rational point, to 40 digits."""
    m = 3
    y = sp.symbols(f"y0:{m}")
    gamma, beta = sp.symbols("gamma beta")
    eps = sp.Rational(1, 100)
    z = BatchNorm().symbolic(list(y), {"gamma": gamma, "beta": beta, "eps": eps})
    g = [sp.Rational(3, 7), sp.Rational(-2, 5), sp.Rational(1, 3)]
    L = sum(gi * zi for gi, zi in zip(g, z))
    point = {y[0]: sp.Rational(1, 2), y[1]: sp.Rational(-3, 4), y[2]: 2, gamma: sp.Rational(-3, 2)}
    point[beta] = sp.Rational(1, 5)
    vx = [sp.Rational(1, 3), sp.Rational(2, 3), sp.Rational(-1, 2)]
    vw, vb = sp.Rational(5, 4), sp.Rational(-2, 3)
    args = list(y) + [gamma, beta]
    tangent = vx + [vw, vb]
    grad = [sp.diff(L, a) for a in args]
    hess_v = [sum(sp.diff(gr, b) * t for b, t in zip(args, tangent)) for gr in grad]
    jvp = [sum(sp.diff(zi, a) * t for a, t in zip(args, tangent)) for zi in z]
    num = lambda e: float(sp.N(e.subs(point), 40))

    t64 = lambda v: torch.tensor([float(e) for e in v], dtype=torch.float64)
    x = t64([point[s] for s in y]).reshape(m, 1)
    kwargs = {
        "running_mean": None,
        "running_var": None,
        "weight": t64([point[gamma]]),
        "bias": t64([point[beta]]),
        "training": True,
        "eps": float(eps),
    }
    c = affine.call("batchnorm", x, kwargs)
    gt = t64(g).reshape(m, 1)
    tan = affine.Blocks(t64(vx).reshape(m, 1), t64([vw]), t64([vb]))
    got_grad = torch.cat([b.reshape(-1) for _, b in affine.gradient(c, gt).items()])
    got_hvp = torch.cat([b.reshape(-1) for _, b in affine.hvp(c, gt, tan).items()])
    got_jvp = affine.jvp(c, tan).reshape(-1)
    for got, want in ((got_grad, grad), (got_hvp, hess_v), (got_jvp, jvp)):
        want = torch.tensor([num(e) for e in want], dtype=torch.float64)
        assert torch.allclose(got, want, rtol=1e-13, atol=1e-13), (got, want)
    assert float(sp.simplify(hess_v[-1].subs(point))) == 0.0  # H_B. = 0: bias is additive


def test_a_layer_without_a_plan_is_refused():
    """The blocks need a group-wise layer (a plan): another is named in the error."""
    from bntheory.errors import InvalidArgumentError
    from bntheory.norms import register_layer, unregister_layer
    from bntheory.norms.base import Normalization

    class Plain(Normalization):
        name = "plainaffinetest"

        def forward(self, x, *args, **kwargs):
            return x - x.mean()

    register_layer(Plain())
    try:
        with pytest.raises(InvalidArgumentError, match="'plainaffinetest' is not a group-wise"):
            affine.plan_of("plainaffinetest", torch.randn(4, 2, dtype=torch.float64), {})
    finally:
        unregister_layer("plainaffinetest")
