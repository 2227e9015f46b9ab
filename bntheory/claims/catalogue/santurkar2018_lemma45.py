"""Santurkar et al. (2018), Lemma 4.5 (favourable initialization), settled exactly.

The problems and their exact optima are in :mod:`bntheory.theorems.lemma45`; the claim is
judged on 200 seeded random integer problems, with 50 problems of centered inputs as a
control.  The optima do not depend on ``eps``, so both regimes get the same evidence.
"""

from __future__ import annotations

from bntheory.cases.latex import rational, rational_matrix, rational_vector
from bntheory.claims.exact import ExactJudge
from bntheory.claims.model import Claim, ClaimInfo, ExactEvidence
from bntheory.theorems import lemma45

ORDER = 20


def lemma_formulas(ce: dict) -> list[str]:
    """Lemma 4.5's exact counterexample (rationals as strings) as display formulas."""
    return [
        rf"X = {rational_matrix(ce['X'])},\quad t = {rational_vector(ce['t'])},\quad W_0 = "
        rf"{rational_vector(ce['W0'])}",
        rf"W^* = {rational_vector(ce['W_star'])},\quad w_c = {rational_vector(ce['w_c'])},\quad "
        rf"\hat W^* = {rational_vector(ce['W_hat_star'])}",
        rf"\|W_0 - \hat W^*\|^2 = {rational(ce['lhs'])} \approx {ce['lhs_float']:.6g}\; > \;"
        rf"{rational(ce['rhs'])} \approx {ce['rhs_float']:.6g} = \text{{rhs}}",
    ]


def settle() -> ExactEvidence:
    """The scan of the general problems and of the centered control (both exact)."""
    general = lemma45.settle(200, seed=0)
    centered = lemma45.settle(50, seed=1, centered=True)
    ce = general.get("counterexample")
    return ExactEvidence(
        examples=general["problems"],
        max_slack=general["max_slack"],
        counterexample=ce,
        violation=None if not ce else ce["lhs_float"] - ce["rhs_float"],
        counterexample_latex=lemma_formulas(ce) if ce else [],
        control={k: centered[k] for k in ("problems", "violated", "max_slack")},
        control_name="centered_inputs",
        control_text=r"centered inputs ($\mathbf 1^\top X = 0$, so $w_c = W^*$)",
        regime_free=True,
        method="random integer problems solved exactly (SymPy rationals)",
    )


def recheck(counterexample: dict) -> bool:
    """Whether the problem of a counterexample's exact numbers violates the lemma."""
    return lemma45.evaluate(lemma45.from_json(counterexample))["violated"]


CLAIMS = (
    Claim(
        ClaimInfo(
            id="lemma4.5",
            source="arXiv 1805.11604, Lemma 4.5",
            statement=lemma45.LATEX,
            case_space="a single linear neuron with squared loss on an exact rational input batch",
            reading=lemma45.READING,
            assumptions=(r"$\langle W_0, W^*\rangle > 0$",),
            title="Lemma 4.5 (favourable initialization)",
            derivation="lemma-4.5.md",
            paper="santurkar2018",
            notes=(
                "## The distance computation",
                "Derived step by step in [lemma-4.5.md](../derivations/lemma-4.5.md); the lemma "
                "needs the BatchNorm optima to contain the ray through the standard optimum.",
            ),
        ),
        ExactJudge(settle, recheck, conditional=True),
    ),
)
