"""Case spaces the search judge draws from, for claims about one BatchNorm channel.

:class:`ChannelSpace` is the space of Theorems 1, 2 and 4.4: a case
``(y, gamma, beta, eps, g, H)`` (:class:`~bntheory.cases.theorem.Case`) drawn by
:func:`~bntheory.cases.strategies.theorem_cases`, its JSON, and its display formulas.
"""

from __future__ import annotations

from dataclasses import dataclass

from bntheory.cases.latex import counterexample_formulas
from bntheory.cases.strategies import theorem_cases
from bntheory.cases.theorem import Case


@dataclass(frozen=True)
class ChannelSpace:
    """One BatchNorm channel and the loss's ``(g, H)`` at its output; ``with_lam`` also draws
    Theorem 4.4's bound ``lam`` on the input batch; cases live on ``device`` (float64)."""

    with_lam: bool = False
    device: str = "cpu"
    description: str = (
        "one BatchNorm channel (y, gamma, beta, eps) of m activations and the loss's gradient g "
        "and Hessian H at its output"
    )

    def strategy(self, regime: str):
        """Cases of ``regime`` (``"eps=0"`` or ``"eps>0"``)."""
        return theorem_cases(regime, device=self.device, with_lam=self.with_lam)

    def to_json(self, case: Case) -> dict:
        """The case's exact float64 numbers."""
        return case.to_json()

    def from_json(self, data: dict) -> Case:
        """The case of :meth:`to_json`'s numbers."""
        return Case.from_json(data, self.device)

    def formulas(self, data: dict, sides: dict | None) -> list[str]:
        """The case and both sides as display formulas."""
        return counterexample_formulas(data, sides)
