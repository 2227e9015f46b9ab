"""Santurkar et al. (2018), Theorems 1, 2 and 4.4 in every printed form, and their exact forms.

The statements themselves (sides, relations, assumptions, readings) are data in
:mod:`bntheory.theorems.catalogue`; here each becomes a claim judged by searching one
BatchNorm channel's cases, with the exact form and the derivation its page points to.
"""

from __future__ import annotations

from bntheory.claims.theorems import statement_claim
from bntheory.theorems.catalogue import STATEMENTS

ORDER = 10

#: Per theorem: the claim giving the exact value, and the derivation page that proves it.
_EXACT = {
    1: ("thm1.exact", "theorem1.md"),
    2: ("thm2.exact", "theorem2.md"),
    4: ("thm4.4.derived", "theorem1.md"),
}

CLAIMS = tuple(
    statement_claim(
        s,
        title=f"Theorem {s.theorem if s.theorem != 4 else '4.4'}",
        exact_form=_EXACT[s.theorem][0],
        derivation=_EXACT[s.theorem][1],
    )
    for s in STATEMENTS
)
