"""``proofs/p14_scale_invariance_groups.py``: its steps fail when the layer or the claimed
``eps > 0`` correction is changed, and hold for the registered layers' own symbolic forms."""

from __future__ import annotations

import importlib.util

import pytest
import sympy

from bntheory.symbolic.catalogue import proofs_dir


@pytest.fixture(scope="module")
def p14():
    """The proof's module, loaded from its file."""
    file = proofs_dir() / "p14_scale_invariance_groups.py"
    spec = importlib.util.spec_from_file_location("bntheory_proofs.p14", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: The steps of one layer, in order (1-based, as ``ProofResult.failed_steps`` counts).
SCALING, EPS0, EULER, JACOBIAN, CORRECTION, CORRECTION0, HESSIAN = range(1, 8)


def test_eps_outside_the_square_root_breaks_every_eps_law_but_not_eps_zero(p14):
    """``sigma = sqrt(var) + eps`` scales as ``LN_{eps/c}``, not ``LN_{eps/c^2}``: the steps
    about ``eps > 0`` fail, those at ``eps = 0`` still hold."""

    def outside(v, e):
        mu = sum(v) / p14.N
        sigma = sympy.sqrt(sum((t - mu) ** 2 for t in v) / p14.N) + e
        yhat = [(t - mu) / sigma for t in v]
        return [p14.gamma[i] * yhat[i] + p14.beta[i] for i in range(p14.N)], yhat, sigma**2

    result = p14.build(layers={"LayerNorm": outside}).run()
    assert result.failed_steps == [SCALING, EULER, JACOBIAN, CORRECTION, HESSIAN]


def test_a_wrong_correction_fails_only_its_own_step(p14):
    """``eps/sigma`` for ``eps/sigma^2``: the correction's step fails for both layers."""

    def wrong(yhat, sigma2, g):
        return p14.eps / sympy.sqrt(sigma2) * sum(p14.gamma[i] * g[i] * yhat[i] for i in range(3))

    result = p14.build(correction=wrong).run()
    assert result.failed_steps == [CORRECTION, 7 + CORRECTION]


def test_a_leaky_layer_is_not_scale_invariant_even_at_eps_zero(p14):
    """RMSNorm plus a tenth of its input: every step about scaling fails, ``eps = 0`` too."""

    def leaky(v, e):
        z, yhat, sigma2 = p14.rmsnorm(v, e)
        return [z[i] + v[i] / 10 for i in range(p14.N)], yhat, sigma2

    result = p14.build(layers={"RMSNorm": leaky}).run()
    assert result.failed_steps == [SCALING, EPS0, EULER, JACOBIAN, CORRECTION, CORRECTION0, HESSIAN]


def test_the_forms_are_the_registered_layers_symbolic_forms(p14):
    """With one shared ``gamma`` and ``beta`` (the registered forms' parameters), the proof's
    LayerNorm and RMSNorm are the registered layers' own SymPy forward passes on three
    features, so the proof is about the layers the suite checks."""
    from bntheory import get_layer

    g, b = sympy.symbols("g b", real=True)
    shared = {t: g for t in p14.gamma} | {t: b for t in p14.beta}
    params = {"gamma": g, "beta": b, "eps": p14.eps}
    for name, form in (("layernorm", p14.layernorm), ("rmsnorm", p14.rmsnorm)):
        ours = [t.subs(shared) for t in form(list(p14.y), p14.eps)[0]]
        theirs = get_layer(name).symbolic(list(p14.y), params)
        assert all(sympy.simplify(u - v) == 0 for u, v in zip(ours, theirs, strict=True))
