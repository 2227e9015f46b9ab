"""The vectorised sweep computes the same margins as the per-case route and finds violations."""

from __future__ import annotations

import json

import pytest
import torch

from bntheory.cases.theorem import Case
from bntheory.claims.sweep import random_batch, sweep
from bntheory.cli import main
from bntheory.theorems.case import batch_quantities
from bntheory.theorems.catalogue import STATEMENTS, get_statement
from bntheory.theorems.margin import margin, margin_terms


@pytest.mark.parametrize("eps", [0.0, 0.5])
@pytest.mark.parametrize("statement", STATEMENTS, ids=[s.id for s in STATEMENTS])
def test_vectorised_margins_equal_per_case_margins(statement, eps):
    batch = random_batch(6, 12, eps, torch.Generator().manual_seed(3))
    slack, scale, tol, applicable = margin_terms(statement, batch_quantities(batch))
    for i in range(6):
        one = margin(
            statement, Case(batch.y[i], float(batch.gamma[i]), 0.0, eps, batch.g[i], batch.H[i])
        )
        assert abs(float(slack[i]) - one.slack) <= one.tolerance + float(tol[i])
        assert bool(applicable[i]) == one.applicable


def test_sweep_finds_violations_of_a_refuted_form_and_none_of_an_identity():
    refuted = sweep(get_statement("thm1.arxiv"), "eps=0", 2000, m=16)
    assert refuted.violations > 0 and refuted.worst_case is not None  # re-checked inside sweep
    exact = sweep(get_statement("thm1.exact"), "eps>0", 2000, m=16)
    assert exact.violations == 0 and exact.worst_case is None


def test_verify_sweep_cli(tmp_path, capsys):
    assert main(["verify", "--sweep", "300", "--m", "8", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert doc["schema"] == 1 and doc["m"] == 8 and len(doc["results"]) == 2 * len(STATEMENTS)
    assert all(r["cases"] == 300 for r in doc["results"])


def test_psd_assumption_agrees_with_the_spectrum():
    """The Cholesky test of "H positive semi-definite" decides as the smallest eigenvalue
    does, away from the tolerance: PSD (including singular), indefinite, and nearly PSD."""
    from bntheory.theorems.catalogue import PSD_TOLERANCE, h_is_psd

    gen = torch.Generator().manual_seed(7)
    batch = random_batch(64, 16, 1e-5, gen, rank=4)  # odd cases PSD (rank 4), even indefinite
    h = batch.H.clone()
    h[0] = torch.eye(16, dtype=torch.float64) - 1e-6 * torch.ones(16, 16, dtype=torch.float64) / 16
    h[2] = torch.eye(16, dtype=torch.float64)
    h[2, 0, 0] = -1e3 * PSD_TOLERANCE  # slightly indefinite, well beyond the tolerance
    batch.H = h
    decided = h_is_psd(batch_quantities(batch))
    lam_min = torch.linalg.eigvalsh(h).amin(-1)
    size = h.abs().amax(dim=(-2, -1)).clamp(min=1.0)
    expected = lam_min >= -PSD_TOLERANCE * size
    assert decided[1::2].all() and bool(decided[0]) and not bool(decided[2])
    assert torch.equal(decided, expected)


def test_expensive_assumptions_are_decided_only_where_still_open():
    st = get_statement("thm2.paper-relnorm")
    gen = torch.Generator().manual_seed(1)
    q = batch_quantities(random_batch(256, 12, 1e-5, gen))
    slack, scale, tol, applicable = margin_terms(st, q)
    every = torch.ones(256, dtype=torch.bool)
    for a in st.assumptions:
        every &= torch.as_tensor(a.holds(q))
    assert torch.equal(applicable, every)
    assert 0 < int(applicable.sum()) < 256
