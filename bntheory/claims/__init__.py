"""Claims and their judging: the catalogue, the judges, and the typed verdict records.

``claims()`` lists the catalogue (:mod:`bntheory.claims.registry`); each
:class:`~bntheory.claims.model.Claim` gives its :class:`~bntheory.claims.model.Verdict` with
``claim.verdict(regime, profile)``.
"""

from bntheory.claims.model import REGIMES, Claim, ClaimInfo, Verdict
from bntheory.claims.registry import claims, get_claim

__all__ = ["REGIMES", "Claim", "ClaimInfo", "Verdict", "claims", "get_claim"]
