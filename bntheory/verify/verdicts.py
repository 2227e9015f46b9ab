"""Discover each statement's verdict: search for a counterexample with Hypothesis.

A statement that Hypothesis cannot refute in a profile's budget is ``holds`` (with the
number of examples and the largest relative slack seen); a refuted one is ``refuted`` with
the shrunk counterexample, re-checked from its JSON numbers before it is reported; a
statement with assumptions that holds on every case satisfying them is
``holds-under-assumptions``.

"Equality up to rounding": a side is a sum of terms; a violation counts only if it exceeds
the error model's bound ``C u kappa (1 + log2 m) S``, ``S`` the summed magnitudes of every
term of both sides plus the a-priori size of the left side (``|gamma| ||g|| / sigma`` for
``ghat``, squared, times the bound on ``||Hhat||`` for Theorem 2): at ``m = 2`` BatchNorm is
constant, ``ghat`` is pure rounding, and its computed size says nothing about its error.  An identity (``thm1.exact``) therefore never flips with rounding,
while a gap larger than rounding can explain is always a violation.
"""

from __future__ import annotations

import math
from random import Random
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample

from bntheory.testing.strategies import theorem_cases
from bntheory.theorems.case import Case, quantities
from bntheory.theorems.catalogue import Statement
from bntheory.verify.errormodel import relative_tolerance

PROFILES = {"quick": 25, "ci": 150, "thorough": 3000}


@dataclass
class Margin:
    """``slack = rhs - lhs`` (for ``<=``; ``-|lhs - rhs|`` for ``=``), its scale and bound."""

    slack: float
    scale: float
    tolerance: float
    applicable: bool  # the statement's assumptions hold

    @property
    def violated(self) -> bool:
        return self.applicable and self.slack < -self.tolerance


def margin_terms(statement: Statement, q) -> tuple:
    """``(slack, scale, tolerance, applicable)`` as tensors: for one case or a batch."""
    lhs, rhs = statement.lhs(q), statement.rhs(q)
    # the size of the left side that rounding is measured against: |ghat|^2 (times ||Hhat||
    # for Theorem 2, times lam^2 for Theorem 4.4, whose sides are lam^2 |ghat|^2 and the like)
    a_priori = q.ghat_bound**2 * {1: 1.0, 2: q.hhat_bound, 4: q.case.lam**2}[statement.theorem]
    scale = sum(abs(t) for t in lhs + rhs) + a_priori
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
    return evaluate(statement, case)[0]


def evaluate(statement: Statement, case: Case) -> tuple[Margin, dict[str, float]]:
    """The margin and both sides (``lhs``, ``rhs``, ``tolerance``) of ``statement`` at ``case``,
    from one evaluation of the case's quantities (autograd, cross-checked)."""
    q = quantities(case)
    slack, scale, tol, applicable = margin_terms(statement, q)
    mg = Margin(float(slack), float(scale), float(tol), bool(applicable))
    return mg, {"lhs": float(sum(statement.lhs(q))), "rhs": float(sum(statement.rhs(q))), "tolerance": mg.tolerance}


@dataclass
class Verdict:
    id: str
    regime: str
    source: str
    latex: str
    verdict: str
    assumptions: list[str]
    reading: str
    examples: int
    max_slack: float | None
    counterexample: dict | None = None
    violation: float | None = None  # relative: -slack / scale of the counterexample
    unconditional_counterexample: dict | None = field(default=None)
    sides: dict | None = None  # lhs, rhs, tolerance at the counterexample
    unconditional_sides: dict | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def judge(statement: Statement, regime: str, profile: str = "ci", device: str | torch.device = "cpu") -> Verdict:
    """Search for a counterexample to ``statement`` in ``regime`` (float64 on ``device``)."""
    stats = {"examples": 0, "max_slack": -math.inf}

    def violated(case: Case, require_assumptions: bool = True) -> bool:
        mg = margin(statement, case)
        if mg.applicable or not require_assumptions:
            stats["examples"] += 1
            if mg.scale > 0:
                stats["max_slack"] = max(stats["max_slack"], mg.slack / mg.scale)
        return (mg.violated if require_assumptions else mg.slack < -mg.tolerance)

    cfg = settings(max_examples=PROFILES[profile], database=None, deadline=None, derandomize=True,
                   suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
    strategy = theorem_cases(regime, device=device, with_lam=statement.theorem == 4)
    base = dict(id=statement.id, regime=regime, source=statement.source, latex=statement.latex,
                assumptions=[a.text for a in statement.assumptions], reading=statement.reading)
    try:
        ce = find(strategy, violated, settings=cfg, random=Random(0))
    except NoSuchExample:
        conditional = bool(statement.assumptions)
        out = Verdict(verdict="holds-under-assumptions" if conditional else "holds",
                      examples=stats["examples"], max_slack=_finite(stats["max_slack"]), **base)
        if conditional:  # show the assumptions matter: a counterexample once they are dropped
            try:
                ce = find(strategy, lambda c: violated(c, require_assumptions=False), settings=cfg, random=Random(0))
                out.unconditional_counterexample = ce.to_json()
                out.unconditional_sides = evaluate(statement, ce)[1]
            except NoSuchExample:
                pass
        return out
    recheck, at = evaluate(statement, Case.from_json(ce.to_json(), device))  # from the reported numbers
    if not recheck.violated:
        raise AssertionError(f"{statement.id}: the counterexample does not re-check: {recheck}")
    return Verdict(verdict="refuted", examples=stats["examples"], max_slack=_finite(stats["max_slack"]),
                   counterexample=ce.to_json(), violation=-recheck.slack / recheck.scale,
                   sides=at, **base)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
