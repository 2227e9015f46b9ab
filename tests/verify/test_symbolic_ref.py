"""The lambdified symbolic derivatives as the third reference of a case's quantities."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bntheory.cases.theorem import Case, bn_args
from bntheory.theorems import case as case_mod
from bntheory.theorems.case import quantities
from bntheory.verify import symbolic_ref
from bntheory.verify.symbolic_ref import SYMBOLIC_MAX_M, symbolic_quantities


def random_case(m: int, eps: float, seed: int) -> Case:
    gen = torch.Generator().manual_seed(seed)
    kw = dict(dtype=torch.float64, generator=gen)
    a = torch.randn(m, m, **kw)
    return Case(torch.randn(m, **kw) * 3 + 1, -1.7, 0.2, eps, torch.randn(m, **kw), (a + a.T) / 2)


@pytest.mark.parametrize("m", range(2, SYMBOLIC_MAX_M + 1))
@pytest.mark.parametrize("eps", [0.0, 1e-5, 0.5])
def test_symbolic_reference_equals_autograd(m, eps):
    c = random_case(m, eps, seed=10 * m)
    q = quantities(c)  # cross-checks inside; here the agreement is also shown explicitly
    s_ghat, s_curv = symbolic_quantities(
        c.y.tolist(), c.gamma, c.beta, c.eps, c.g.tolist(), c.H.tolist()
    )
    scale = float(q.ghat_bound**2 * q.hhat_bound)
    assert max(abs(a - b) for a, b in zip(s_ghat, q.ghat.tolist())) <= 1e-13 * float(q.ghat_bound)
    assert abs(s_curv - float(q.ghat_Hhat_ghat)) <= 1e-13 * scale


def test_cross_check_catches_a_wrong_curvature():
    c = random_case(3, 1e-5, seed=1)
    q = quantities(c)
    bn = case_mod.get_layer("batchnorm")
    x, args = c.y.reshape(-1, 1), bn_args(c)
    case_mod.check_against_references(q, bn, x, args)  # the true quantities pass
    scale = float(q.ghat_bound**2 * q.hhat_bound)
    wrong = dataclasses.replace(q, ghat_Hhat_ghat=q.ghat_Hhat_ghat + 1e-9 * scale)
    with pytest.raises(AssertionError, match="disagrees"):
        case_mod.check_against_references(wrong, bn, x, args)
    wrong_g = dataclasses.replace(q, ghat=q.ghat + 1e-9 * float(q.ghat_bound))
    with pytest.raises(AssertionError, match="disagrees"):
        case_mod.check_against_references(wrong_g, bn, x, args)


def test_symbolic_reference_alone_catches_what_autograd_and_closed_forms_share(monkeypatch):
    """If autograd and the closed forms were both wrong the same way, the symbolic reference
    still disagrees: feed the symbolic side a different gamma and the check fails."""
    c = random_case(3, 1e-5, seed=2)
    real = symbolic_ref.symbolic_quantities
    monkeypatch.setattr(
        symbolic_ref,
        "symbolic_quantities",
        lambda y, gamma, *rest, **kw: real(y, gamma * (1 + 1e-8), *rest, **kw),
    )
    with pytest.raises(AssertionError, match="symbolic"):
        quantities(c)


def test_large_groups_skip_the_symbolic_reference(monkeypatch):
    calls = []
    monkeypatch.setattr(symbolic_ref, "symbolic_quantities", lambda *a, **k: calls.append(1))
    quantities(random_case(SYMBOLIC_MAX_M + 1, 1e-5, seed=3))
    assert calls == []
