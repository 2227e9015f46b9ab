"""Explicit-m Jacobian and Hessian against torch.autograd at random points, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from bntheory import get_layer, register_layer, unregister_layer
from bntheory.errors import InvalidArgumentError, UnknownLayerError
from bntheory.norms import BatchNorm, Normalization
from bntheory.symbolic import explicit
from bntheory.symbolic.checks import compare_with_explicit
from bntheory.verify.compare import compare
from bntheory.verify.oracle import layer_map, oracle

BN = get_layer("batchnorm")
EPS = [0, 0.5]


def _numeric(m, eps, what, seed, device):
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(rng.normal(size=(m, 1)) * 3 + 1, device=device)
    gamma = float(rng.normal())
    g, v = (
        torch.as_tensor(rng.normal(size=(m, 1)), device=device),
        torch.as_tensor(rng.normal(size=(m, 1)), device=device),
    )
    sym = explicit.group_symbols(m, eps)
    tensor = (
        explicit.jacobian("batchnorm", m, eps)
        if what == "jacobian"
        else explicit.hessian("batchnorm", m, eps)
    )
    f = sympy.lambdify(list(sym.y) + [sym.gamma], tensor.tolist(), "math")
    t = torch.tensor(f(*x[:, 0].tolist(), gamma), dtype=torch.float64, device=device)
    kw = {
        "weight": torch.tensor([gamma], dtype=torch.float64, device=device),
        "training": True,
        "eps": float(eps),
    }
    return x, g, v, t, kw


@pytest.mark.parametrize("eps", EPS)
@pytest.mark.parametrize("m", range(2, 9))
def test_jacobian_matches_autograd(m, eps, device):
    x, g, v, jac, kw = _numeric(m, eps, "jacobian", seed=m, device=device)
    ours = (jac @ v[:, 0]).reshape(m, 1)
    ref = oracle("jvp", layer_map(BN, (), kw), x, g, v)
    cmp = compare(BN, "jvp", x, ours, ref, (), kw, g=g, v=v)
    assert cmp.ok, cmp


@pytest.mark.parametrize("eps", EPS)
@pytest.mark.parametrize(
    "m", [pytest.param(m, marks=pytest.mark.slow) if m > 5 else m for m in range(2, 9)]
)
def test_hessian_matches_autograd(m, eps, device):
    x, g, v, hess, kw = _numeric(m, eps, "hessian", seed=m, device=device)
    ours = torch.einsum("i,ikl,l->k", g[:, 0], hess, v[:, 0]).reshape(m, 1)
    ref = oracle("hvp", layer_map(BN, (), kw), x, g, v)
    cmp = compare(BN, "hvp", x, ours, ref, (), kw, g=g, v=v)
    assert cmp.ok, cmp


def test_symbols_are_named_as_documented():
    jac = explicit.jacobian("batchnorm", 3, "eps")
    names = {s.name for s in jac.free_symbols}
    assert names == {"y0", "y1", "y2", "gamma", "eps"}
    hess = explicit.hessian("batchnorm", 2, 0)
    assert hess.shape == (2, 2, 2) and {s.name for s in hess.free_symbols} == {"y0", "y1", "gamma"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "what,m", [("jacobian", 7), ("jacobian", 8), ("hessian", 5), ("hessian", 6), ("hessian", 8)]
)
def test_general_closed_forms_match_explicit_beyond_the_proofs(what, m):
    assert compare_with_explicit(what, m, 0) < 1e-40
    assert compare_with_explicit(what, m, 0.5) < 1e-40


@pytest.mark.parametrize("m", [1, 0, -3, 2.5, True])
def test_m_below_two_is_an_error(m):
    with pytest.raises(InvalidArgumentError, match=r"m must be an integer >= 2"):
        explicit.jacobian("batchnorm", m)


def test_negative_eps_is_an_error():
    with pytest.raises(InvalidArgumentError, match=r"eps must be a number >= 0"):
        explicit.hessian("batchnorm", 2, -1)


def test_unknown_layer():
    with pytest.raises(UnknownLayerError, match="unknown layer 'batchnorms'"):
        explicit.jacobian("batchnorms", 3)


def test_layer_without_symbolic_forward():
    class NoSymbolic(BatchNorm):
        name = "nosymbolic"
        symbolic = Normalization.symbolic  # the protocol's default: not implemented

    register_layer(NoSymbolic)
    try:
        with pytest.raises(
            explicit.SymbolicUnavailableError, match="'nosymbolic' has no symbolic forward"
        ):
            explicit.jacobian("nosymbolic", 3)
    finally:
        unregister_layer("nosymbolic")
