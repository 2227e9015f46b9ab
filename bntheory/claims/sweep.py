"""Vectorised random campaigns: many cases judged in a few tensor operations.

Each case of a batch is one channel of a BatchNorm input of shape ``(m, K)``, so the layer's
closed forms evaluate ``ghat = J^T g``, ``J ghat`` and the curvature term for all ``K`` cases
at once; the statements' sides are the catalogue's own formulas on ``(K, m)`` tensors.  A
sweep is a cheaper, blunter search than Hypothesis: it reports how many random cases violate
each statement and the worst one, which is then re-checked case by case with autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bntheory.cases.theorem import Case
from bntheory.theorems.case import batch_quantities
from bntheory.theorems.catalogue import Statement
from bntheory.theorems.margin import margin, margin_terms


def random_batch(k: int, m: int, eps: float, generator: torch.Generator, rank: int = 8) -> Case:
    """``k`` cases: Gaussian activations of random scale and offset, ``gamma`` of both signs,
    Gaussian ``g``, and ``H = U diag(s) U^T`` of rank ``rank`` with ``s`` of both signs in even
    cases (indefinite) and nonnegative in odd ones (positive semi-definite)."""
    kw = dict(dtype=torch.float64, generator=generator)
    y = torch.randn(k, 1, **kw) + torch.randn(k, m, **kw) * torch.exp(torch.randn(k, 1, **kw))
    gamma = torch.randn(k, **kw) * 2
    g = torch.randn(k, m, **kw)
    u = torch.randn(k, m, rank, **kw)
    spectrum = torch.randn(k, 1, rank, **kw)
    spectrum[1::2] = spectrum[1::2].abs()
    h = (u * spectrum) @ u.transpose(1, 2) / rank
    return Case(y=y, gamma=gamma, beta=torch.zeros(k, dtype=torch.float64), eps=eps, g=g, H=h)


@dataclass
class SweepResult:
    """How many of a campaign's cases violate a statement, and the worst one."""

    id: str
    regime: str
    cases: int
    violations: int
    worst_violation: float  # relative: -slack / scale, <= 0 when nothing is violated
    worst_case: dict | None  # re-checked with autograd when it is a violation

    def to_json(self) -> dict:
        """The result as JSON."""
        return self.__dict__.copy()


def sweep(
    statement: Statement,
    regime: str,
    n: int,
    m: int = 64,
    chunk: int = 2048,
    seed: int = 0,
    progress=lambda it: it,
) -> SweepResult:
    """Judge ``n`` random cases of size ``m`` against ``statement`` in ``regime``."""
    gen = torch.Generator().manual_seed(seed)
    eps = 0.0 if regime == "eps=0" else 1e-5
    done = violations = 0
    worst, worst_case = -float("inf"), None
    for start in progress(range(0, n, chunk)):
        batch = random_batch(min(chunk, n - start), m, eps, gen)
        slack, scale, tol, applicable = margin_terms(statement, batch_quantities(batch))
        bad = applicable & (slack < -tol)
        violations += int(bad.sum())
        rel = torch.where(applicable, -slack / scale, torch.full_like(slack, -float("inf")))
        i = int(rel.argmax())
        if float(rel[i]) > worst:
            worst = float(rel[i])
            worst_case = Case(
                batch.y[i], float(batch.gamma[i]), 0.0, eps, batch.g[i], batch.H[i]
            ).to_json()
        done += batch.y.shape[0]
    if violations:  # re-check the worst one case by case, with autograd
        assert margin(statement, Case.from_json(worst_case)).violated, (
            f"{statement.id}: sweep case does not re-check"
        )
    return SweepResult(
        statement.id, regime, done, violations, worst, worst_case if violations else None
    )
