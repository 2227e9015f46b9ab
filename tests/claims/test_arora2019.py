"""Arora et al.'s scale invariance: the printed identities hold at eps = 0 and fail at eps > 0,
the exact law holds in both regimes, and planted false laws are refuted."""

from __future__ import annotations

import pytest

from bntheory.claims import get_claim
from bntheory.claims.catalogue import arora2019_scale_invariance as mod
from bntheory.claims.model import Claim, ClaimInfo
from bntheory.claims.search import SearchJudge


@pytest.mark.parametrize("layer", sorted(mod.GROUPS))
def test_printed_law_holds_only_without_eps_and_the_exact_law_always(layer):
    printed = get_claim(f"arora2019.scale-invariance.{layer}")
    assert printed.verdict("eps=0", "quick").verdict == "holds"
    refuted = printed.verdict("eps>0", "quick")
    assert refuted.verdict == "refuted"
    assert printed.judge.recheck(refuted.evidence.counterexample)
    exact = get_claim(f"arora2019.scale-invariance-exact.{layer}")
    assert exact.verdict("eps>0", "quick").verdict == "holds"
    growth = get_claim(f"arora2019.norm-growth-exact.{layer}")
    assert growth.verdict("eps>0", "quick").verdict == "holds"


def _planted(margin) -> Claim:
    judge = SearchJudge(mod.ProblemSpace("batchnorm"), margin)
    return Claim(ClaimInfo("planted", "test", "", "problems"), judge)


def test_a_norm_growth_law_with_the_wrong_sign_is_refuted():
    def wrong_sign(p):
        q = mod.Quantities(p)
        step = q.w - p.eta * q.grad
        rhs = q.w @ q.w + p.eta**2 * (q.grad @ q.grad) + 2 * p.eta * q.correction
        wn = float(q.w.norm())
        scale = wn**2 + 2 * p.eta * q.grad_bound * wn + (p.eta * q.grad_bound) ** 2
        return mod._worst([("wrong sign", step @ step, rhs, scale)], q.tol)

    v = _planted(wrong_sign).verdict("eps>0", "quick")
    assert v.verdict == "refuted" and v.evidence.violation > 0


def test_a_doubled_correction_is_refuted():
    def doubled(p):
        q = mod.Quantities(p)
        scale = q.grad_bound * float(q.w.norm()) + 2 * float(q.correction_scale)
        return mod._worst([("doubled", q.grad @ q.w, 2 * q.correction, scale)], q.tol)

    assert _planted(doubled).verdict("eps>0", "quick").verdict == "refuted"


def test_the_check_fails_when_the_layer_is_not_scale_invariant(monkeypatch):
    """Add a term linear in y to the layer's output: the identities are violated at eps = 0."""
    original = mod.Problem.normalize

    def leaky(self, y, gamma, beta):
        return original(self, y, gamma, beta) + 1e-3 * y

    monkeypatch.setattr(mod.Problem, "normalize", leaky)
    v = get_claim("arora2019.scale-invariance.batchnorm").verdict("eps=0", "quick")
    assert v.verdict == "refuted"
