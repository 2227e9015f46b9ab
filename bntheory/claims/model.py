r"""The claim model: what the suite judges, and the typed verdict every writer reads.

A :class:`Claim` is one catalogue entry: its id, its source, the statement as printed (LaTeX),
the reading of anything ambiguous, the case space it quantifies over, its assumptions, and its
:class:`Judge`.  A judge turns a claim and a regime into a :class:`Verdict`: the claim's
description (:class:`ClaimInfo`, so a record stands on its own), the regime, the verdict, and
its evidence, one of

* :class:`SearchEvidence` -- a search of the case space for a counterexample (Hypothesis,
  then the worst-case search), with the counterexample re-checked from its printed numbers;
* :class:`ExactEvidence` -- problems solved exactly in rational arithmetic;
* :class:`MeasuredEvidence` -- a statistic measured over seeds, with a confidence interval.

Everything downstream (report pages, JSON, LaTeX, the CLI's tables) reads these records and
dispatches on the evidence's type, never on a claim's id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from bntheory.cases.settings import REGIMES

__all__ = ["REGIMES", "Claim", "ClaimInfo", "Verdict", "Judge"]

#: Verdicts of a claim judged exactly (by search or in rationals).
EXACT_VERDICTS: tuple[str, ...] = ("holds", "holds-under-assumptions", "refuted")
#: Verdicts of a measured claim, at the interval's level.
MEASURED_VERDICTS: tuple[str, ...] = ("supported", "contradicted", "inconclusive")
#: Version of the ``claims.json`` schema.
SCHEMA = 1


@dataclass(frozen=True)
class ClaimInfo:
    """A claim's description: everything but its judge (what a verdict record carries).

    ``exact_form`` names the claim that gives the exact value this one bounds (its page shows
    that claim's statement), ``derivation`` the page of ``reports/derivations/`` that derives
    it, ``notes`` paragraphs (Markdown) for the claim's page, and ``title`` the heading of its
    own section where its evidence gets one (an exact problem).  ``paper`` is the short key of
    the publication (``santurkar2018``, ``arora2019``, ...): the index lists the claims of
    ``santurkar2018`` in its first table and every other in "claims beyond Santurkar et al.".
    ``grid`` places the claim in a comparison table, ``(table, row, column)``, and
    ``published`` is what that table's source prints for the cell (``None``: no published
    entry): the report writes ``tables/<table>.md`` with the verdicts beside it.
    """

    id: str
    source: str
    statement: str
    case_space: str
    reading: str = ""
    assumptions: tuple[str, ...] = ()
    title: str = ""
    exact_form: str | None = None
    derivation: str | None = None
    notes: tuple[str, ...] = ()
    paper: str = ""
    grid: tuple[str, str, str] | None = None
    published: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The description as JSON (lists for tuples)."""
        out = asdict(self)
        out["assumptions"] = list(self.assumptions)
        out["notes"] = list(self.notes)
        out["grid"] = None if self.grid is None else list(self.grid)
        return out

    @staticmethod
    def from_json(d: dict[str, Any]) -> ClaimInfo:
        """The description of :meth:`to_json`'s output."""
        info = dict(d)
        info["assumptions"], info["notes"] = tuple(info["assumptions"]), tuple(info["notes"])
        if info.get("grid") is not None:
            info["grid"] = tuple(info["grid"])
        return ClaimInfo(**info)


class Judge(Protocol):
    """Decides a claim in a regime.  ``kind`` is ``"search"``, ``"exact"`` or ``"measured"``."""

    kind: str

    def judge(self, claim: Claim, regime: str, profile: str) -> Verdict:
        """The verdict on ``claim`` in ``regime`` with the search budget ``profile``."""
        ...

    def recheck(self, counterexample: dict) -> bool:
        """Whether a record's counterexample, rebuilt from its numbers, violates the claim."""
        ...


@dataclass(frozen=True)
class Claim:
    """One catalogue entry: a statement as printed, how it is read, and its judge.

    ``regimes``: the regimes it is judged in; ``studied``: whether its judge also measures
    tightness and worst cases (:meth:`study`), which draws a figure per claim.
    """

    info: ClaimInfo
    judge: Judge
    regimes: tuple[str, ...] = REGIMES

    @property
    def id(self) -> str:
        """The claim's id (``thm1.arxiv``, ``lemma4.5``, ``ioffe2015.output-moments``, ...)."""
        return self.info.id

    @property
    def studied(self) -> bool:
        """Whether the judge measures tightness and worst cases after the verdict."""
        return hasattr(self.judge, "study")

    def verdict(self, regime: str, profile: str) -> Verdict:
        """Judge the claim in ``regime``."""
        if regime not in self.regimes:
            from bntheory.errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"regime {regime!r} of claim {self.id!r}; known: {', '.join(self.regimes)}"
            )
        return self.judge.judge(self, regime, profile)


@dataclass
class SearchEvidence:
    """A search of the claim's case space for a counterexample.

    ``examples``: cases tried (that satisfy the assumptions); ``max_slack``: the largest
    ``(rhs - lhs)/scale`` seen; ``counterexample``: the shrunk case as JSON, re-checked from
    those numbers, with ``sides`` (``lhs``, ``rhs``, ``tolerance``) there and ``violation``
    its ``(lhs - rhs)/scale``; ``counterexample_latex``: the case as display formulas.  For
    a claim that holds under assumptions, the ``unconditional_*`` fields hold a case that
    violates it once they are dropped.  ``tightness`` and ``worst_case`` come from the
    worst-case study, which may refute the claim after all (``refuted_by_search``).
    ``min_slack`` is the smallest relative slack seen (the closest call; for an equality
    judged in units of the error model, 1 minus the largest error in those units), and
    ``closest`` that case as JSON where the judge keeps it (``SearchJudge(keep_closest=True)``:
    a refuted claim's worst case, beside its shrunk one).
    """

    examples: int
    max_slack: float | None
    counterexample: dict | None = None
    violation: float | None = None
    sides: dict | None = None
    counterexample_latex: list[str] = field(default_factory=list)
    unconditional_counterexample: dict | None = None
    unconditional_sides: dict | None = None
    unconditional_latex: list[str] = field(default_factory=list)
    tightness: dict | None = None
    worst_case: dict | None = None
    refuted_by_search: bool = False
    min_slack: float | None = None
    closest: dict | None = None


@dataclass
class ExactEvidence:
    """Problems solved exactly (rational arithmetic): how many, the largest relative slack,
    the first counterexample (exact numbers as strings) with ``violation = lhs - rhs``, its
    display formulas, and a ``control`` family of problems with its own counts (its key in
    the flat layout: ``control_name``; its description: ``control_text``).
    ``regime_free``: the problems do not depend on the regime (one counterexample for all)."""

    examples: int
    max_slack: float | None
    counterexample: dict | None = None
    violation: float | None = None
    counterexample_latex: list[str] = field(default_factory=list)
    control: dict | None = None
    control_name: str = "control"
    control_text: str = ""
    regime_free: bool = False
    method: str = "problems solved exactly"


@dataclass
class MeasuredEvidence:
    """A statistic measured over seeds: its estimate, the ``level`` confidence interval
    (bootstrap over seeds), the value it is compared with (``threshold``; for
    ``alternative = "within"`` the claimed value, with the ``band`` the claim allows around
    it), and the samples.  ``details`` holds what the claim's page shows beside the verdict:
    named numbers (a predicted constant, ...) and, under ``"plot"``, the data of its figure
    (``{"kind": "histogram" | "heatmap" | "curves", ...}``, drawn by the report)."""

    statistic: str
    estimate: float
    interval: tuple[float, float]
    level: float
    threshold: float
    alternative: str
    samples: list[float]
    method: str = "scipy.stats.bootstrap (BCa) over seeds"
    band: tuple[float, float] | None = None
    details: dict = field(default_factory=dict)

    @property
    def examples(self) -> int:
        """The number of seeds measured."""
        return len(self.samples)


Evidence = SearchEvidence | ExactEvidence | MeasuredEvidence


@dataclass
class Verdict:
    """One claim in one regime: the verdict, its evidence and its provenance."""

    claim: ClaimInfo
    regime: str
    verdict: str
    evidence: Evidence
    judge: str
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        allowed = (
            MEASURED_VERDICTS if isinstance(self.evidence, MeasuredEvidence) else EXACT_VERDICTS
        )
        if self.verdict not in allowed:
            from bntheory.errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"verdict {self.verdict!r} of {self.claim.id!r} with "
                f"{type(self.evidence).__name__}; allowed: {', '.join(allowed)}"
            )

    @property
    def id(self) -> str:
        """The claim's id."""
        return self.claim.id

    def to_json(self) -> dict[str, Any]:
        """The record of ``claims.json``."""
        evidence = asdict(self.evidence)
        if isinstance(self.evidence, MeasuredEvidence):
            evidence["interval"] = list(self.evidence.interval)
            if self.evidence.band is not None:
                evidence["band"] = list(self.evidence.band)
        return {
            "id": self.id,
            "regime": self.regime,
            "verdict": self.verdict,
            "judge": self.judge,
            "evidence_kind": type(self.evidence).__name__,
            "evidence": evidence,
            "claim": self.claim.to_json(),
            "provenance": self.provenance,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> Verdict:
        """A record of ``claims.json`` back as a typed verdict (a worker's result, a file)."""
        kinds = {k.__name__: k for k in (SearchEvidence, ExactEvidence, MeasuredEvidence)}
        evidence = dict(d["evidence"])
        if d["evidence_kind"] == "MeasuredEvidence":
            evidence["interval"] = tuple(evidence["interval"])
            if evidence.get("band") is not None:
                evidence["band"] = tuple(evidence["band"])
        return Verdict(
            claim=ClaimInfo.from_json(d["claim"]),
            regime=d["regime"],
            verdict=d["verdict"],
            evidence=kinds[d["evidence_kind"]](**evidence),
            judge=d["judge"],
            provenance=dict(d.get("provenance", {})),
        )

    def flat(self) -> dict[str, Any]:
        """The record in the flat layout of ``verdicts.json`` (one dict per claim and regime:
        the description's ``source``, ``latex``, ``assumptions``, ``reading`` beside the
        evidence's fields)."""
        ev = self.evidence
        out: dict[str, Any] = {
            "id": self.id,
            "regime": self.regime,
            "source": self.claim.source,
            "latex": self.claim.statement,
            "verdict": self.verdict,
            "assumptions": list(self.claim.assumptions),
            "reading": self.claim.reading,
            "examples": ev.examples,
        }
        if isinstance(ev, SearchEvidence):
            out |= {
                "max_slack": ev.max_slack,
                "counterexample": ev.counterexample,
                "violation": ev.violation,
                "unconditional_counterexample": ev.unconditional_counterexample,
                "sides": ev.sides,
                "unconditional_sides": ev.unconditional_sides,
            }
            if ev.tightness is not None:
                out |= {"tightness": ev.tightness, "worst_case": ev.worst_case}
            if ev.refuted_by_search:
                out["refuted_by_search"] = True
        elif isinstance(ev, ExactEvidence):
            out |= {
                "max_slack": ev.max_slack,
                "counterexample": ev.counterexample,
                "violation": ev.violation,
                ev.control_name: ev.control,
            }
        else:
            out |= {
                "estimate": ev.estimate,
                "interval": list(ev.interval),
                "level": ev.level,
                "threshold": ev.threshold,
                "band": None if ev.band is None else list(ev.band),
            }
        return out
