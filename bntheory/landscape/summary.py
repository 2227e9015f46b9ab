"""Scalar summaries of runs, for tables, the report and side-by-side comparisons."""

from __future__ import annotations

import math
import statistics
from typing import Any

from bntheory.errors import InvalidArgumentError
from bntheory.stats import LEVEL, mean_interval, paired_difference


def _median(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return statistics.median(xs) if xs else None


def run_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """Medians over the probes (the first probe, at initialization, excluded when there are
    others) of each landscape measurement, and the final test numbers."""
    probes = doc["probes"]
    body = probes[1:] if len(probes) > 1 else probes
    cfg = doc["config"]
    last = probes[-1] if probes else {}
    hess = [p["hessian"]["eigenvalues"][0] for p in probes if "hessian" in p]
    return {
        "norm": cfg["norm"],
        "lr": cfg["lr"],
        "steps_done": doc["steps_done"],
        "diverged_at": doc["diverged_at"],
        "final_train_loss": doc["train_loss"][-1] if doc["train_loss"] else None,
        "final_test_loss": last.get("test", {}).get("loss"),
        "final_test_accuracy": last.get("test", {}).get("accuracy"),
        "loss_variation": _median([p["loss_max"] - p["loss_min"] for p in body]),
        "predictiveness_max": _median([p["pred_max"] for p in body]),
        "beta_smoothness": _median([p["beta_smoothness"] for p in body]),
        "ics_l2": _median([sum(r["l2"] for r in p["ics"]) / len(p["ics"]) for p in body]),
        "ics_cos": _median([sum(r["cos"] for r in p["ics"]) / len(p["ics"]) for p in body]),
        "hessian_top": hess,
        "hvp_products": [p["hessian"]["hvp_products"] for p in probes if "hessian" in p],
    }


#: The landscape measurements a summary carries, compared across seeds and normalizations.
METRICS = ("loss_variation", "predictiveness_max", "beta_smoothness", "ics_l2", "ics_cos")


def _by_run(per_seed: dict[int, list[dict[str, Any]]]) -> dict[tuple[str, float], dict]:
    """``{(norm, lr): {seed: summary}}`` from each seed's run summaries."""
    if not per_seed:
        raise InvalidArgumentError("summaries over seeds need at least one seed")
    out: dict[tuple[str, float], dict] = {}
    for seed, summaries in per_seed.items():
        for s in summaries:
            key = (s["norm"], s["lr"])
            if seed in out.setdefault(key, {}):
                raise InvalidArgumentError(f"seed {seed} has two runs of {key}")
            out[key][seed] = s
    seeds = set(per_seed)
    for key, runs in out.items():
        if set(runs) != seeds:
            missing = sorted(seeds - set(runs))
            raise InvalidArgumentError(f"run {key} is missing for seeds {missing}")
    return out


def seed_summaries(
    per_seed: dict[int, list[dict[str, Any]]], level: float | None = None
) -> list[dict[str, Any]]:
    """One summary per (norm, lr) over seeds: for each of :data:`METRICS` the per-seed values
    (in seed order), their mean and its bootstrap interval (:func:`bntheory.stats.mean_interval`),
    and how many seeds diverged.  ``per_seed``: ``{seed: [run_summary, ...]}``, the same runs
    for every seed."""
    level = LEVEL if level is None else level
    out = []
    for (norm, lr), runs in _by_run(per_seed).items():
        seeds = sorted(runs)
        row: dict[str, Any] = {"norm": norm, "lr": lr, "seeds": seeds}
        row["diverged"] = sum(runs[k]["diverged_at"] is not None for k in seeds)
        for m in METRICS:
            values = [runs[k][m] for k in seeds]
            row[m] = {"values": values, **mean_interval(values, level)}
        out.append(row)
    return out


def paired_comparisons(
    per_seed: dict[int, list[dict[str, Any]]],
    baseline: str = "none",
    level: float | None = None,
) -> list[dict[str, Any]]:
    """Every normalization against ``baseline`` at the same learning rate, paired by seed:
    for each of :data:`METRICS` the mean of ``norm - baseline`` over seeds with its interval,
    the relative effect and ``d_z`` (:func:`bntheory.stats.paired_difference`).  A negative
    interval says the normalization lowers the measurement at that level."""
    level = LEVEL if level is None else level
    runs = _by_run(per_seed)
    if not any(norm == baseline for norm, _ in runs):
        raise InvalidArgumentError(f"no run of the baseline {baseline!r} to compare against")
    out = []
    for (norm, lr), these in runs.items():
        base = runs.get((baseline, lr))
        if norm == baseline or base is None:
            continue
        seeds = sorted(these)
        row: dict[str, Any] = {"norm": norm, "baseline": baseline, "lr": lr, "seeds": seeds}
        for m in METRICS:
            row[m] = paired_difference(
                [these[k][m] for k in seeds], [base[k][m] for k in seeds], level
            )
        out.append(row)
    return out
