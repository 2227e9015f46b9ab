r"""Worst-case search over cases: how badly a statement fails, or how tight it is.

Two objectives, both maximised over the cases of :class:`~bntheory.search.space.CaseSpace`
(fixed ``m`` and ``eps_ratio`` :math:`= \varepsilon/\mathrm{var}`):

* ``"violation"`` -- :math:`(\text{lhs} - \text{rhs})/\text{scale}`, the relative violation
  the verdicts use (``scale``: the summed sizes of every term plus the a-priori size of the
  left side; :func:`bntheory.theorems.margin.margin_terms`).  Positive beyond the error
  model's tolerance means refuted.
* ``"tightness"`` -- :math:`\text{lhs}/\text{rhs}` where :math:`\text{rhs} > 0`: its supremum
  is 1 exactly when the bound is attained (or approached).

Each start is one L-BFGS-B run (``scipy.optimize.minimize``) on the objective and its torch
autograd gradient (the closed forms' differentiable route).  Assumptions enter as a penalty
on their continuous margins (:attr:`Assumption.margin`, kept at least :data:`ASSUMPTION_MARGIN`
inside), or, for "H positive semi-definite", as the factor parametrisation
:math:`H = FF^\top`.  The best case is then re-checked from its numbers with
:func:`bntheory.theorems.margin.margin` (autograd through the layer, cross-checked against the
closed forms and, for small ``m``, the symbolic derivatives); only re-checked cases are
reported.  For a violation the search also reports a *minimal* version: the smallest ``m``
that still violates, and its numbers rounded to the fewest significant digits that still
violate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize

from bntheory.cases.theorem import Case
from bntheory.errors import InvalidArgumentError
from bntheory.search.space import CaseSpace
from bntheory.theorems.case import batch_quantities
from bntheory.theorems.catalogue import REGIMES, Statement, needs_psd
from bntheory.theorems.margin import evaluate, margin_terms

OBJECTIVES = ("violation", "tightness")
#: Assumption margins are kept at least this far inside (a case on the boundary may round out).
ASSUMPTION_MARGIN = 1e-6
#: Weight of the assumption penalty against an objective of order one.
PENALTY = 10.0
#: Default eps/var of the eps>0 regime.
DEFAULT_EPS_RATIO = 0.1


@dataclass
class SearchResult:
    """The outcome of a worst-case search of a statement in a regime."""

    statement: str
    regime: str
    objective: str
    m: int
    eps_ratio: float
    value: float  # the objective at the re-checked best case (nan when no start found one)
    case: dict | None  # Case JSON
    lhs: float | None = None
    rhs: float | None = None
    tolerance: float | None = None
    violated: bool = False  # re-checked: lhs > rhs beyond the error model (with the assumptions)
    starts: int = 0
    evaluations: int = 0
    minimal: dict | None = None  # {"m", "digits", "distinct_values", "case", "violation"}
    per_start: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as JSON."""
        return asdict(self)


def regime_eps_ratio(regime: str, eps_ratio: float | None) -> float:
    """The ``eps / var`` ratio of a regime (checked against the known regimes)."""
    if regime not in REGIMES:
        raise InvalidArgumentError(f"regime must be one of {', '.join(REGIMES)}, got {regime!r}")
    if regime == "eps=0":
        if eps_ratio not in (None, 0, 0.0):
            raise InvalidArgumentError(
                f"the eps=0 regime has eps_ratio = eps/var = 0, got eps_ratio={eps_ratio}"
            )
        return 0.0
    eps_ratio = DEFAULT_EPS_RATIO if eps_ratio is None else float(eps_ratio)
    if not eps_ratio > 0:
        raise InvalidArgumentError(
            f"the eps>0 regime needs eps_ratio = eps/var > 0, got eps_ratio={eps_ratio}"
        )
    return eps_ratio


def _objective_terms(
    statement: Statement, space: CaseSpace, theta: torch.Tensor, objective: str
) -> torch.Tensor:
    """The penalised objective (a 0-d tensor, to maximise) at ``theta``."""
    case, lam = space.case(theta)
    if lam is not None:
        case = replace(case, lam=lam)
    q = batch_quantities(case)
    lhs, rhs = sum(statement.lhs(q))[0], sum(statement.rhs(q))[0]
    slack, scale, _, _ = margin_terms(statement, q)
    if objective == "violation":
        value = -slack[0] / scale[0]
    else:
        # lhs / rhs where rhs > 0; below that, a slope that leads back to rhs > 0
        floor = 1e-9 * scale[0]
        value = torch.where(
            rhs > floor, lhs / torch.clamp(rhs, min=floor), -1.0 - (floor - rhs) / scale[0]
        )
    penalty = 0.0
    for a in statement.assumptions:
        if a.margin is not None:
            penalty = penalty + torch.relu(ASSUMPTION_MARGIN - a.margin(q)[0])
    return value - PENALTY * penalty


def _plain_case(space: CaseSpace, theta: np.ndarray) -> Case:
    """The case of ``theta`` as plain float64 numbers (one case, not a batch)."""
    with torch.no_grad():
        c, lam = space.case(torch.as_tensor(theta, dtype=torch.float64))
    return Case(
        c.y[0].clone(),
        float(c.gamma[0]),
        0.0,
        float(c.eps),
        c.g[0].clone(),
        c.H[0].clone(),
        1.0 if lam is None else float(lam),
    )


def _run_start(
    statement: Statement, space: CaseSpace, x0: np.ndarray, objective: str, maxfun: int
) -> tuple[float, np.ndarray, int]:
    count = [0]

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        count[0] += 1
        theta = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        try:
            value = _objective_terms(statement, space, theta, objective)
            (grad,) = torch.autograd.grad(value, theta)
        except Exception:  # a degenerate point (e.g. all y equal): push away from it
            return 1e6, np.zeros_like(x)
        v, g = float(value.detach()), grad.numpy()
        if not (math.isfinite(v) and np.all(np.isfinite(g))):
            return 1e6, np.zeros_like(x)
        return -v, -g

    res = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=space.bounds(),
        options={"maxfun": maxfun, "maxiter": maxfun, "ftol": 1e-15, "gtol": 1e-12},
    )
    return -float(res.fun), res.x, count[0]


def _recheck(statement: Statement, case: Case, objective: str) -> tuple[float, dict, bool]:
    """The objective recomputed from the case's numbers by autograd (``quantities``)."""
    mg, s = evaluate(statement, case)
    if objective == "violation":
        value = -mg.slack / mg.scale if mg.scale > 0 else 0.0
        if not mg.applicable:
            value = -math.inf
    else:
        # lhs/rhs means nothing where rhs is rounding (e.g. m = 2, eps = 0: both sides are 0)
        value = s["lhs"] / s["rhs"] if s["rhs"] > s["tolerance"] else -math.inf
        if not mg.applicable:
            value = -math.inf
    return value, s, mg.violated


def search(
    statement: Statement,
    regime: str = "eps>0",
    objective: str = "violation",
    m: int = 4,
    eps_ratio: float | None = None,
    starts: int = 8,
    maxfun: int = 300,
    seed: int = 0,
    minimal: bool = True,
    progress: Callable[[Iterable], Iterable] = lambda it: it,
) -> SearchResult:
    """Maximise ``objective`` for ``statement`` over cases of size ``m`` in ``regime``."""
    if objective not in OBJECTIVES:
        raise InvalidArgumentError(
            f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}"
        )
    if starts < 1 or maxfun < 1:
        raise InvalidArgumentError(
            f"starts and maxfun must be >= 1, got starts={starts}, maxfun={maxfun}"
        )
    eps_ratio = regime_eps_ratio(regime, eps_ratio)
    rng = np.random.default_rng(seed)
    best: tuple[float, Case, dict, bool] | None = None
    evaluations, per_start = 0, []
    for k in progress(range(starts)):
        space = CaseSpace(
            m,
            eps_ratio,
            psd=needs_psd(statement),
            gamma_sign=1.0 if k % 2 == 0 else -1.0,
            with_lam=statement.with_lam,
        )
        _, x, n = _run_start(statement, space, space.random(rng), objective, maxfun)
        evaluations += n
        case = _plain_case(space, x)
        try:
            value, s, violated = _recheck(statement, case, objective)
        except Exception:  # the optimiser ended on a degenerate case; the start counts as failed
            value, s, violated = -math.inf, {}, False
        per_start.append(value)
        if math.isfinite(value) and (best is None or value > best[0]):
            best = (value, case, s, violated)
    out = SearchResult(
        statement.id,
        regime,
        objective,
        m,
        eps_ratio,
        math.nan,
        None,
        starts=starts,
        evaluations=evaluations,
        per_start=per_start,
    )
    if best is None:
        return out
    value, case, s, violated = best
    out.value, out.case, out.violated = value, case.to_json(), violated
    out.lhs, out.rhs, out.tolerance = s["lhs"], s["rhs"], s["tolerance"]
    if minimal and objective == "violation" and violated:
        out.minimal = minimise(statement, regime, case, eps_ratio, seed, maxfun)
    return out


def _round(x: float, digits: int) -> float:
    return float(f"{x:.{digits}g}")


def rounded_case(case: Case, digits: int) -> Case:
    """Every number of ``case`` rounded to ``digits`` significant digits (``H`` stays symmetric)."""
    r = lambda t: torch.tensor(
        [_round(v, digits) for v in t.reshape(-1).tolist()],  # noqa: E731
        dtype=torch.float64,
    ).reshape(t.shape)
    h = r(case.H)
    h = torch.triu(h) + torch.triu(h, 1).T
    return Case(
        r(case.y),
        _round(case.gamma, digits),
        0.0,
        _round(case.eps, digits) if case.eps else 0.0,
        r(case.g),
        h,
        _round(case.lam, digits),
    )


def distinct_values(case: Case) -> int:
    """The number of distinct values among a case's ``y``, ``g`` and ``H``."""
    values = case.y.tolist() + case.g.tolist() + case.H.reshape(-1).tolist()
    return len(set(values))


def minimise(
    statement: Statement, regime: str, case: Case, eps_ratio: float, seed: int, maxfun: int
) -> dict | None:
    """The smallest ``m`` whose search still finds a re-checked violation, and that case
    rounded to the fewest significant digits that still violate."""
    smallest = case
    for m in range(2, case.m):
        found = search(
            statement,
            regime,
            "violation",
            m=m,
            eps_ratio=eps_ratio if regime == "eps>0" else None,
            starts=2,
            maxfun=maxfun,
            seed=seed,
            minimal=False,
        )
        if found.violated:
            smallest = Case.from_json(found.case)
            break
    for digits in range(1, 18):
        candidate = rounded_case(smallest, digits)
        try:
            value, _, violated = _recheck(statement, candidate, "violation")
        except Exception:  # rounding made the case degenerate (e.g. a constant batch)
            continue
        if violated:
            return {
                "m": candidate.m,
                "digits": digits,
                "distinct_values": distinct_values(candidate),
                "violation": value,
                "case": candidate.to_json(),
            }
    return None
