r"""The runs judge: a claim judged from training runs over seeds.

Empirical claims about training ("BatchNorm lowers the loss variation") are judged from the
runs of a sweep, not by a search: the runs come from the landscape presets, which live above
the claims in the layering, so the judge does not train anything itself.  It reads the
aggregate of a sweep (``results.json``'s ``presets``: for each preset its run summaries per
seed, :func:`bntheory.landscape.sweep.aggregate`) and turns it into one number per seed per
regime, and the numbers into a verdict exactly as the measured judge does: the mean over
seeds, its ``level`` BCa bootstrap interval, and ``supported`` / ``contradicted`` /
``inconclusive`` against the claim's threshold (:func:`bntheory.claims.measured.decide`).

A regime names the preset, the learning rate and, where the claim has several parts, the
part: ``digits, lr 0.5`` or ``layers, lr 0.5, l1batchnorm, loss variation``.  The regimes
a claim is judged in are those the runs support (:attr:`RunsJudge.regimes_of`); the
report's are its embedded presets', a sweep of the ``santurkar2018`` preset adds that
preset's.  Comparisons are paired by seed (the same seed gives both runs the same data
order and initialization stream).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bntheory.claims.measured import decide
from bntheory.claims.model import Claim, MeasuredEvidence, Verdict
from bntheory.errors import BNTheoryError, InvalidArgumentError
from bntheory.stats import LEVEL, interval

#: Seeds of the report's runs per budget (each a full set of training runs).
RUN_SEEDS = {"quick": 2, "ci": 5, "thorough": 10}


class NeedsRunsError(BNTheoryError):
    """A claim judged from training runs was asked for a verdict without runs."""


Presets = dict  # results.json's "presets": {name: {"per_seed": {seed: [summary, ...]}, ...}}


def lr_key(lr: float) -> float:
    """A learning rate as regimes name it (``f"{lr:g}"``, six significant digits), so that a
    regime's ``lr`` finds its runs (the sweep refuses two rates that print alike)."""
    return float(f"{float(lr):g}")


def summaries_by_seed(presets: Presets, preset: str) -> dict[int, dict[tuple[str, float], dict]]:
    """``{seed: {(norm, lr): run summary}}`` of one preset of a sweep's aggregate (``lr`` by
    :func:`lr_key`)."""
    if preset not in presets:
        raise InvalidArgumentError(f"no runs of preset {preset!r}; have {', '.join(presets)}")
    return {
        int(seed): {(s["norm"], lr_key(s["lr"])): s for s in summaries}
        for seed, summaries in presets[preset]["per_seed"].items()
    }


def grid(presets: Presets, preset: str) -> set[tuple[str, float]]:
    """The ``(norm, lr)`` pairs every seed of ``preset`` has a run of."""
    by_seed = summaries_by_seed(presets, preset)
    keys = [set(runs) for runs in by_seed.values()]
    return set.intersection(*keys) if keys else set()


def split_regime(regime: str) -> tuple[str, float, tuple[str, ...]]:
    """``"digits, lr 0.5, l2"`` -> ``("digits", 0.5, ("l2",))``."""
    parts = [p.strip() for p in regime.split(",")]
    if len(parts) < 2 or not parts[1].startswith("lr "):
        raise InvalidArgumentError(f"a runs regime is 'PRESET, lr LR[, PART ...]', got {regime!r}")
    return parts[0], float(parts[1][3:]), tuple(parts[2:])


@dataclass(frozen=True)
class RunsJudge:
    """Judge a claim from a sweep's runs (see the module docstring).

    ``regimes_of(presets)``: the regimes the runs support, in order; ``measure(presets,
    regime)``: one number per seed (``None`` where a run gives none: dropped and counted) and
    the details of the record; ``claimed(regime)``: ``(alternative, threshold, band)``."""

    statistic: str
    regimes_of: Callable[[Presets], list[str]]
    measure: Callable[[Presets, str], tuple[list[float | None], dict]]
    claimed: Callable[[str], tuple[str, float, tuple[float, float] | None]]
    presets: tuple[str, ...] = ()  # the report's presets this claim reads
    level: float = LEVEL
    kind: str = "measured"

    def judge(self, claim: Claim, regime: str, profile: str) -> Verdict:
        """Refuse: a runs claim needs the runs (:meth:`judge_runs`)."""
        raise NeedsRunsError(
            f"claim {claim.id!r} is judged from training runs: run `bntheory report` or "
            "`bntheory sweep`, which judge it from their runs"
        )

    def recheck(self, counterexample: dict) -> bool:
        """A measured claim has no counterexample to replay."""
        return False

    def judge_runs(self, claim: Claim, presets: Presets, provenance: dict) -> list[Verdict]:
        """The verdict in every regime the runs support (none when they support none; a
        regime in which every run's number is missing, all runs diverged, has none)."""
        out = []
        for regime in self.regimes_of(presets):
            values, details = self.measure(presets, regime)
            samples = [float(v) for v in values if v is not None and np.isfinite(v)]
            details = {**details, "dropped": len(values) - len(samples)}
            alternative, threshold, band = self.claimed(regime)
            if not samples:  # no run gave a number (all diverged): no verdict in this regime
                continue
            if len(samples) >= 2:
                lo, hi = interval(samples, self.level)
                word = decide(lo, hi, threshold, alternative, band)
            else:  # one seed: no interval, nothing can be concluded
                lo = hi = samples[0]
                word = "inconclusive"
            estimate = float(np.mean(samples))
            ev = MeasuredEvidence(
                statistic=self.statistic,
                estimate=estimate,
                interval=(lo, hi),
                level=self.level,
                threshold=float(threshold),
                alternative=alternative,
                samples=samples,
                method="scipy.stats.bootstrap (BCa) over seeds, paired by seed",
                band=band,
                details=details,
            )
            prov = {**provenance, "from": "runs"}
            out.append(Verdict(claim.info, regime, word, ev, self.kind, prov))
        return out
