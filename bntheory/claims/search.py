r"""The search judge: look for a counterexample in a claim's case space with Hypothesis.

A claim that Hypothesis cannot refute in a profile's budget ``holds`` (with the number of
examples and the largest relative slack seen); a refuted one is ``refuted`` with the shrunk
counterexample, re-checked from its JSON numbers before it is reported; a claim with
assumptions that holds on every case satisfying them ``holds-under-assumptions``, and the
search then looks for a case that violates it once they are dropped, to show they matter.

The judge knows nothing of a particular case space: a :class:`SearchSpace` gives the
Hypothesis strategy of a regime, the JSON of a case and back, and its display formulas; the
claim's ``margin`` function gives the :class:`~bntheory.theorems.margin.Margin` at a case.

Every search draws the same cases in every process.  Recent Hypothesis versions sometimes
draw a constant found in the source of the *local* modules imported so far, so without care
a verdict's cases would depend on what the process had imported before (a test session, a
user's own modules): :func:`pinned_constant_pool` keeps Hypothesis to its own constants while
a claim is searched.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from random import Random
from typing import Any, Protocol

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample

from bntheory.claims.model import Claim, SearchEvidence, Verdict
from bntheory.theorems.margin import Margin

#: Hypothesis examples per claim and regime of each search budget.
PROFILES = {"quick": 25, "ci": 150, "thorough": 3000}


class SearchSpace(Protocol):
    """What the search judge needs of a case space."""

    description: str

    def strategy(self, regime: str):
        """A Hypothesis strategy of the cases of ``regime``."""
        ...

    def to_json(self, case: Any) -> dict:
        """A case as JSON numbers that replay it exactly."""
        ...

    def from_json(self, data: dict) -> Any:
        """The case of :meth:`to_json`'s output."""
        ...

    def formulas(self, data: dict, sides: dict | None) -> list[str]:
        """A case (as JSON) and the claim's sides there, as display formulas (LaTeX)."""
        ...


#: ``(case) -> (margin, sides)``: ``sides`` holds ``lhs``, ``rhs`` and ``tolerance``.
MarginFn = Callable[[Any], tuple[Margin, dict[str, float]]]


@contextlib.contextmanager
def pinned_constant_pool() -> Iterator[None]:
    """Within the block, Hypothesis draws no constants from the source of local modules.

    Hypothesis mixes into its draws constants collected from every local module in
    ``sys.modules`` (its global pool of edge values stays).  That pool grows with what a
    process imports, so the same search would draw different cases in a fresh interpreter
    and in a test session.  The pool has no public switch: this replaces Hypothesis's
    collector (``providers._get_local_constants``) with an empty pool for the block and
    clears the cache of permitted constants on the way in and out.  On a Hypothesis that
    collects no local constants it does nothing, as there is nothing to pin.
    """
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a Hypothesis laid out differently
        yield
        return
    collect = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    constants = getattr(providers, "Constants", None)
    if collect is None or cache is None or constants is None:
        yield
        return
    empty = constants()
    cache.cache.clear()
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = collect
        cache.cache.clear()


def profile_settings(profile: str, budget: dict[str, int] | None = None) -> settings:
    """Hypothesis settings of a budget: derandomized, no database, no deadline.  ``budget``
    maps the profiles to example counts where a claim's cases are costlier than the
    default :data:`PROFILES` allow."""
    if profile not in PROFILES:
        from bntheory.errors import InvalidArgumentError

        raise InvalidArgumentError(f"profile {profile!r}; known: {', '.join(PROFILES)}")
    return settings(
        max_examples=(budget or PROFILES)[profile],
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
    )


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class SearchJudge:
    """Judge a claim by searching ``space`` for a case where ``margin`` is violated.

    ``conditional``: the regimes in which the claim has assumptions (``Margin.applicable``
    says where they hold).  ``budget``: examples per profile, when not :data:`PROFILES`;
    ``context``: the regime's provenance beyond the profile (a library's version, a device);
    ``keep_closest``: record the case of the smallest slack seen (``SearchEvidence.closest``).
    """

    space: SearchSpace
    margin: MarginFn
    conditional: tuple[str, ...] = ()
    kind: str = "search"
    budget: dict[str, int] | None = None
    context: Callable[[str], dict] | None = None
    keep_closest: bool = False

    def recheck(self, counterexample: dict) -> bool:
        """Whether the case of a record's numbers violates the claim."""
        return self.margin(self.space.from_json(counterexample))[0].violated

    def judge(self, claim: Claim, regime: str, profile: str) -> Verdict:
        """Search for a counterexample to ``claim`` in ``regime``."""
        stats: dict[str, Any] = {"examples": 0, "max_slack": -math.inf, "min_slack": math.inf}
        stats["closest"] = None

        def violated(case: Any, require_assumptions: bool = True) -> bool:
            mg = self.margin(case)[0]
            if mg.applicable or not require_assumptions:
                stats["examples"] += 1
                if mg.scale > 0:
                    stats["max_slack"] = max(stats["max_slack"], mg.slack / mg.scale)
                    if mg.slack / mg.scale < stats["min_slack"]:
                        stats["min_slack"] = mg.slack / mg.scale
                        if self.keep_closest:
                            stats["closest"] = self.space.to_json(case)
            return mg.violated if require_assumptions else mg.slack < -mg.tolerance

        cfg = profile_settings(profile, self.budget)
        strategy = self.space.strategy(regime)
        provenance = {"profile": profile} | (self.context(regime) if self.context else {})
        try:
            with pinned_constant_pool():
                ce = find(strategy, violated, settings=cfg, random=Random(0))
        except NoSuchExample:
            ev = SearchEvidence(
                stats["examples"],
                _finite(stats["max_slack"]),
                min_slack=_finite(stats["min_slack"]),
                closest=stats["closest"],
            )
            conditional = regime in self.conditional
            if conditional:  # show the assumptions matter
                try:
                    with pinned_constant_pool():
                        ce = find(
                            strategy,
                            lambda c: violated(c, require_assumptions=False),
                            settings=cfg,
                            random=Random(0),
                        )
                    data = self.space.to_json(ce)
                    ev.unconditional_counterexample = data
                    ev.unconditional_sides = self.margin(ce)[1]
                    ev.unconditional_latex = self.space.formulas(data, ev.unconditional_sides)
                except NoSuchExample:
                    pass
            word = "holds-under-assumptions" if conditional else "holds"
            return Verdict(claim.info, regime, word, ev, self.kind, provenance)
        data = self.space.to_json(ce)
        recheck, sides = self.margin(self.space.from_json(data))  # from the reported numbers
        if not recheck.violated:
            raise AssertionError(f"{claim.id}: the counterexample does not re-check: {recheck}")
        ev = SearchEvidence(
            stats["examples"],
            _finite(stats["max_slack"]),
            counterexample=data,
            violation=-recheck.slack / recheck.scale,
            sides=sides,
            counterexample_latex=self.space.formulas(data, sides),
            min_slack=_finite(stats["min_slack"]),
            closest=stats["closest"],
        )
        return Verdict(claim.info, regime, "refuted", ev, self.kind, provenance)
