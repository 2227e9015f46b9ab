"""The exact judge: a claim settled on problems solved in rational arithmetic.

``settle()`` returns the :class:`~bntheory.claims.model.ExactEvidence` of a scan of seeded
problems, every one solved exactly (SymPy rationals), with the first counterexample re-checked;
the claim is ``refuted`` when there is one and ``holds`` otherwise.  The scan runs once per
process: a regime-free claim (``ExactEvidence.regime_free``) gets the same evidence in every
regime.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

from bntheory.claims.model import Claim, ExactEvidence, Verdict


@dataclass(frozen=True)
class ExactJudge:
    """Judge a claim by ``settle``, a scan of exactly solved problems; ``recheck`` re-solves
    a counterexample's problem from its exact numbers; ``conditional``: the claim has
    assumptions (the problems that violate them are not counted)."""

    settle: Callable[[], ExactEvidence]
    recheck: Callable[[dict], bool]
    conditional: bool = False
    kind: str = "exact"

    def judge(self, claim: Claim, regime: str, profile: str) -> Verdict:
        """The verdict of the scan (the profile does not change an exact scan)."""
        ev = _cached(self.settle)
        if ev.counterexample is not None:
            if not self.recheck(ev.counterexample):  # from the reported exact numbers
                raise AssertionError(f"{claim.id}: the exact counterexample does not re-check")
            word = "refuted"
        else:
            word = "holds-under-assumptions" if self.conditional else "holds"
        return Verdict(claim.info, regime, word, replace(ev), self.kind, {"profile": profile})


@functools.cache
def _cached(settle: Callable[[], ExactEvidence]) -> ExactEvidence:
    return settle()
