"""The vectorised sweep computes the same margins as the per-case route and finds violations."""

from __future__ import annotations

import json

import pytest
import torch

from bntheory.cli import main
from bntheory.theorems.case import Case
from bntheory.theorems.catalogue import STATEMENTS, get_statement
from bntheory.verify.sweep import batch_quantities, random_batch, sweep
from bntheory.verify.verdicts import margin, margin_terms


@pytest.mark.parametrize("eps", [0.0, 0.5])
@pytest.mark.parametrize("statement", STATEMENTS, ids=[s.id for s in STATEMENTS])
def test_vectorised_margins_equal_per_case_margins(statement, eps):
    batch = random_batch(6, 12, eps, torch.Generator().manual_seed(3))
    slack, scale, tol, applicable = margin_terms(statement, batch_quantities(batch))
    for i in range(6):
        one = margin(statement, Case(batch.y[i], float(batch.gamma[i]), 0.0, eps, batch.g[i], batch.H[i]))
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
