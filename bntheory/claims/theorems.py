"""The judge of a catalogued statement about one BatchNorm channel (Theorems 1, 2 and 4.4).

It is the :class:`~bntheory.claims.search.SearchJudge` over
:class:`~bntheory.cases.spaces.ChannelSpace` with the statement's margin, plus the worst-case
study (:mod:`bntheory.search.study`: tightness over ``m`` and ``eps/var``, the worst case,
its minimal version) and the vectorised random campaign (:mod:`bntheory.claims.sweep`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bntheory.cases.spaces import ChannelSpace
from bntheory.claims.model import REGIMES, Claim, ClaimInfo, Verdict
from bntheory.claims.search import SearchJudge
from bntheory.theorems.catalogue import Statement
from bntheory.theorems.margin import evaluate


@dataclass(frozen=True)
class StatementJudge:
    """Search judge, worst-case study and sweep of one :class:`Statement` (the search's cases
    on ``device``, float64)."""

    statement: Statement
    device: str = "cpu"
    kind: str = "search"

    @property
    def space(self) -> ChannelSpace:
        """The case space: Theorem 4.4 also draws its input bound ``lam``."""
        return ChannelSpace(with_lam=self.statement.with_lam, device=self.device)

    def _search(self) -> SearchJudge:
        return SearchJudge(
            self.space,
            lambda case: evaluate(self.statement, case),
            conditional=REGIMES if self.statement.assumptions else (),
        )

    def recheck(self, counterexample: dict) -> bool:
        """Whether the case of a record's numbers violates the statement."""
        return self._search().recheck(counterexample)

    def judge(self, claim: Claim, regime: str, profile: str) -> Verdict:
        """Search ``regime`` for a counterexample (:class:`SearchJudge`)."""
        return self._search().judge(claim, regime, profile)

    def study(self, verdict: Verdict, quick: bool, seed: int) -> Verdict:
        """``verdict`` with the worst-case study's tightness and worst case; a re-checked
        violation the study finds settles a statement the search let stand as refuted."""
        from bntheory.search.study import StudyGrid, study

        grid = StudyGrid.quick() if quick else StudyGrid()
        found = study(self.statement, verdict.regime, verdict.verdict, grid, seed=seed)
        ev = replace(verdict.evidence, tightness=found["tightness"], worst_case=found["worst_case"])
        word = verdict.verdict
        if found.get("refuted_by_search"):
            w = found["worst_case"]
            if not (w and w["violated"] and self.recheck(w["case"])):
                raise AssertionError(
                    f"{self.statement.id}: the study's violation does not re-check"
                )
            sides = {"lhs": w["lhs"], "rhs": w["rhs"], "tolerance": w["tolerance"]}
            ev = replace(
                ev,
                refuted_by_search=True,
                counterexample=w["case"],
                violation=w["value"],
                sides=sides,
                counterexample_latex=self.space.formulas(w["case"], sides),
            )
            word = "refuted"
        return replace(verdict, verdict=word, evidence=ev)

    def sweep(self, regime: str, n: int, m: int, seed: int, progress=lambda it: it):
        """A vectorised random campaign of ``n`` cases (:func:`bntheory.claims.sweep.sweep`)."""
        from bntheory.claims.sweep import sweep

        return sweep(self.statement, regime, n, m=m, seed=seed, progress=progress)


def statement_claim(statement: Statement, **info) -> Claim:
    """The catalogue entry of a statement: its description and its judge."""
    description = ClaimInfo(
        id=statement.id,
        source=statement.source,
        statement=statement.latex,
        case_space=ChannelSpace(with_lam=statement.with_lam).description,
        reading=statement.reading,
        assumptions=tuple(a.text for a in statement.assumptions),
        paper="santurkar2018",
        **info,
    )
    return Claim(description, StatementJudge(statement))
