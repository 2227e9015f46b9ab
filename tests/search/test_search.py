"""The worst-case search: finds planted violations, re-checks what it reports, and says a
bound is attained exactly when the proofs say so."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from bntheory.cases.theorem import Case
from bntheory.cli import main
from bntheory.errors import InvalidArgumentError
from bntheory.search import search
from bntheory.search.core import distinct_values, rounded_case
from bntheory.search.space import CaseSpace
from bntheory.search.study import ATTAINED, StudyGrid, study
from bntheory.theorems.catalogue import Statement, get_statement
from bntheory.theorems.margin import margin

EXACT = get_statement("thm1.exact")


def _s(q):
    return q.case.gamma**2 / q.sigma**2


def _planted_rhs(q):
    """Theorem 1's exact right side with 0.01 more of <g, yhat>^2 taken away: false wherever
    <g, yhat> != 0, by a relative amount of about 1e-2 or less."""
    gy = (q.g * q.yhat).sum(-1)
    return [r for r in EXACT.rhs(q)] + [-_s(q) * 0.01 * gy**2]


PLANTED = Statement("planted", 1, "test", r"\text{planted}", EXACT.lhs, _planted_rhs)
LOOSE = Statement(
    "loose",
    1,
    "test",
    r"\|\hat g\|^2 \le 2\gamma^2\|g\|^2/\sigma^2",
    EXACT.lhs,
    lambda q: [2 * _s(q) * (q.g * q.g).sum(-1)],
)


@pytest.mark.parametrize("regime", ["eps=0", "eps>0"])
def test_search_finds_a_planted_violation_within_a_fixed_budget(regime):
    res = search(PLANTED, regime, "violation", m=5, starts=2, maxfun=80, seed=0)
    assert res.violated, f"no violation found: {res}"
    assert res.evaluations <= 2 * 80 + 10
    case = Case.from_json(res.case)
    assert margin(PLANTED, case).violated  # re-checked from the reported numbers
    assert not margin(EXACT, case).violated  # and the true statement is not violated there


def test_reported_worst_case_and_its_minimal_version_recheck():
    st = get_statement("thm1.arxiv")
    res = search(st, "eps=0", "violation", m=5, starts=2, maxfun=100, seed=1)
    assert res.violated and res.minimal is not None
    assert margin(st, Case.from_json(res.case)).violated
    mn = Case.from_json(res.minimal["case"])
    assert mn.m == res.minimal["m"] <= 5
    assert margin(st, mn).violated
    assert distinct_values(mn) == res.minimal["distinct_values"]
    # the minimal version's numbers have the reported number of significant digits
    assert all(v == float(f"{v:.{res.minimal['digits']}g}") for v in mn.y.tolist() + mn.g.tolist())


@pytest.mark.parametrize(
    "sid,regime",
    [
        ("thm1.exact", "eps=0"),
        ("thm1.exact", "eps>0"),
        ("thm1.transcribed", "eps>0"),
        ("thm2.exact", "eps>0"),
    ],
)
def test_tightness_is_one_where_the_proofs_say_the_bound_is_attained(sid, regime):
    """thm1.exact and thm2.exact are identities (proofs p3, p4); thm1.transcribed with eps > 0
    is attained at <g, yhat> = 0 (its gap is ((1-rho)/m) <g, yhat>^2, proof p3)."""
    res = search(get_statement(sid), regime, "tightness", m=4, starts=2, maxfun=150, seed=0)
    assert abs(res.value - 1.0) <= ATTAINED, res


def test_tightness_is_below_one_where_the_bound_is_not_attained():
    """||ghat||^2 <= 2 gamma^2 ||g||^2 / sigma^2 is never attained:
    ||ghat|| <= |gamma| ||g|| / sigma (the Jacobian's norm), so lhs/rhs <= 1/2."""
    res = search(LOOSE, "eps>0", "tightness", m=4, starts=2, maxfun=150, seed=0)
    assert 0.5 - 1e-9 <= res.value + 1e-9 and res.value < 1.0 - ATTAINED
    assert res.value == pytest.approx(0.5, abs=1e-6)


def test_study_refutes_where_the_tightness_search_meets_a_violation():
    """A statement wrongly believed to hold: the study measures its violation instead."""
    grid = StudyGrid(m=(4,), eps_ratio=(1.0,), starts=2, maxfun=80)
    out = study(PLANTED, "eps=0", "holds", grid)
    assert out.get("refuted_by_search") and out["tightness"]["objective"] == "violation"
    assert out["worst_case"]["violated"]
    from bntheory.claims.model import SearchEvidence, Verdict
    from bntheory.claims.theorems import StatementJudge, statement_claim

    believed = Verdict(
        statement_claim(PLANTED).info, "eps=0", "holds", SearchEvidence(0, None), "search"
    )
    v = StatementJudge(PLANTED).study(believed, quick=True, seed=0)
    ce = v.evidence.counterexample
    assert (
        v.verdict == "refuted"
        and v.evidence.refuted_by_search
        and margin(PLANTED, Case.from_json(ce)).violated
    )


def test_case_space_keeps_var_one_and_psd_h():
    space = CaseSpace(6, 0.5, psd=True, rank=3)
    theta = torch.as_tensor(space.random(np.random.default_rng(0)))
    case, lam = space.case(theta)
    assert lam is None and case.eps == 0.5
    y = case.y[0]
    assert float(((y - y.mean()) ** 2).mean()) == pytest.approx(1.0, rel=1e-12)
    assert float(torch.linalg.eigvalsh(case.H[0]).min()) >= -1e-12
    with pytest.raises(InvalidArgumentError, match="m must be >= 2"):
        CaseSpace(1, 0.0)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(InvalidArgumentError, match="objective must be one of"):
        search(EXACT, "eps>0", "worst")
    with pytest.raises(InvalidArgumentError, match="regime must be one of"):
        search(EXACT, "eps<0")
    with pytest.raises(InvalidArgumentError, match="eps=0 regime has eps_ratio"):
        search(EXACT, "eps=0", eps_ratio=1.0)


def test_rounded_case_keeps_h_symmetric():
    c = Case(
        torch.tensor([1.23456, -2.5, 0.1]),
        1.7,
        0.0,
        1e-5,
        torch.tensor([0.3, 0.2, -0.11]),
        torch.tensor(
            [[1.0, 0.123456, 0.0], [0.123457, 2.0, 0.5], [0.0, 0.5, 1.0]], dtype=torch.float64
        ),
    )
    r = rounded_case(c, 2)
    assert torch.equal(r.H, r.H.T) and r.y.tolist() == [1.2, -2.5, 0.1]


def test_thm44_inner_maximum_has_the_closed_form_it_is_given():
    """max over ||X||_F <= lam of ||X^T u||^2 is lam^2 ||u||^2: a numerical maximisation over X
    (many starts) never exceeds it and reaches it: the certificate of the closed form."""
    rng = np.random.default_rng(0)
    m, d, lam = 5, 3, 0.7
    u = rng.normal(size=m)

    def neg(xflat):
        x = xflat.reshape(m, d)
        x = lam * x / np.linalg.norm(x)  # on the sphere ||X||_F = lam (the max is on the boundary)
        return -float(np.sum((x.T @ u) ** 2))

    best = max(-minimize(neg, rng.normal(size=m * d), method="BFGS").fun for _ in range(5))
    bound = lam**2 * float(u @ u)
    assert best <= bound * (1 + 1e-12) and best == pytest.approx(bound, rel=1e-8)


def test_search_cli(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "search",
                "thm1.arxiv",
                "--regime",
                "eps=0",
                "--m",
                "4",
                "--starts",
                "2",
                "--budget",
                "60",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "VIOLATED" in text and "minimal:" in text
    data = json.loads(out.read_text())
    assert data["violated"] and data["statement"] == "thm1.arxiv"
    assert main(["search", "thm1.arxiv", "--json", str(out)]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err
    assert main(["search", "thm9.nope"]) == 2
