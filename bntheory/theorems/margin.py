r"""How far a statement is from failing at a case: slack, scale and the error model's bound.

"Equality up to rounding": a side is a sum of terms; a violation counts only if it exceeds
the error model's bound ``C u kappa (1 + log2 m) S``, ``S`` the summed magnitudes of every
term of both sides plus the a-priori size of the left side (``|gamma| ||g|| / sigma`` for
``ghat``, squared, times the bound on ``||Hhat||`` for Theorem 2): at ``m = 2`` BatchNorm is
constant, ``ghat`` is pure rounding, and its computed size says nothing about its error.  An
identity (``thm1.exact``) therefore never flips with rounding, while a gap larger than
rounding can explain is always a violation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bntheory.cases.theorem import Case
from bntheory.theorems.case import quantities
from bntheory.theorems.catalogue import Statement
from bntheory.verify.errormodel import relative_tolerance


@dataclass
class Margin:
    """``slack = rhs - lhs`` (for ``<=``; ``-|lhs - rhs|`` for ``=``), its scale and bound."""

    slack: float
    scale: float
    tolerance: float
    applicable: bool  # the statement's assumptions hold

    @property
    def violated(self) -> bool:
        """Whether the claim applies and its slack is below minus the tolerance."""
        return self.applicable and self.slack < -self.tolerance


def margin_terms(statement: Statement, q) -> tuple:
    """``(slack, scale, tolerance, applicable)`` as tensors: for one case or a batch."""
    lhs, rhs = statement.lhs(q), statement.rhs(q)
    scale = sum(abs(t) for t in lhs + rhs) + statement.a_priori(q)
    diff = sum(rhs) - sum(lhs)
    slack = -abs(diff) if statement.relation == "=" else diff
    tol = relative_tolerance(torch.float64, q.kappa, q.m) * scale
    applicable = torch.ones_like(torch.as_tensor(slack), dtype=torch.bool)
    for a in sorted(statement.assumptions, key=lambda a: a.expensive):  # cheap ones first
        if a.expensive and applicable.dim() > 0:  # a batch: decide it only where still open
            idx = applicable.nonzero().squeeze(-1)
            if idx.numel():
                applicable = applicable.clone()
                applicable[idx] = torch.as_tensor(a.holds(q.take(idx)))
        else:
            applicable = applicable & torch.as_tensor(a.holds(q))
    return slack, scale, tol, applicable


def margin(statement: Statement, case: Case) -> Margin:
    """The margin of ``statement`` at one case (autograd, cross-checked)."""
    return evaluate(statement, case)[0]


def evaluate(statement: Statement, case: Case) -> tuple[Margin, dict[str, float]]:
    """The margin and both sides (``lhs``, ``rhs``, ``tolerance``) of ``statement`` at ``case``,
    from one evaluation of the case's quantities (autograd, cross-checked)."""
    q = quantities(case)
    slack, scale, tol, applicable = margin_terms(statement, q)
    mg = Margin(float(slack), float(scale), float(tol), bool(applicable))
    return mg, {
        "lhs": float(sum(statement.lhs(q))),
        "rhs": float(sum(statement.rhs(q))),
        "tolerance": mg.tolerance,
    }
