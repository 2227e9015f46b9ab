"""Scalar summaries of runs, for tables, the report and side-by-side comparisons."""

from __future__ import annotations

import math
import statistics
from typing import Any

from bntheory.errors import InvalidArgumentError
from bntheory.stats import LEVEL, mean_interval, paired_difference


def _mean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return statistics.fmean(xs) if xs else None


def _finite_or_inf(x: float | None) -> float | str | None:
    """JSON has no infinity: ``inf`` becomes the string ``"inf"``."""
    return "inf" if x == math.inf else x


def _median(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return statistics.median(xs) if xs else None


#: Updates after which the relative loss of the learning-rate experiments is read.
EARLY_STEPS = 10


def relative_loss(train_loss: list[float], diverged_at: int | None) -> float | None:
    r"""The training loss after the first :data:`EARLY_STEPS` updates relative to the initial
    loss, :math:`L_{T}/L_0` (the relative loss of Bjorck et al. 2018, Figure 2); ``None`` when
    the run is shorter, ``inf`` when it diverged before."""
    if diverged_at is not None and diverged_at <= EARLY_STEPS:
        return math.inf
    if len(train_loss) <= EARLY_STEPS:
        return None
    return train_loss[EARLY_STEPS] / train_loss[0]


def activation_shift(probes: list[dict[str, Any]]) -> float | None:
    r"""How much the activations' distribution moves between consecutive probes: the mean over
    Norm layers and probe pairs of :math:`(|\mu_t - \mu_{t-1}| + |\sigma_t - \sigma_{t-1}|)
    / \sigma_{t-1}`, in units of the earlier standard deviation (scale-free, so networks
    whose activations differ in scale compare); ``None`` with fewer than two probes."""
    shifts = []
    for before, after in zip(probes, probes[1:]):
        for a, b in zip(before.get("activations", []), after.get("activations", [])):
            if a["std"] > 0 and math.isfinite(a["std"]):
                shifts.append((abs(b["mean"] - a["mean"]) + abs(b["std"] - a["std"])) / a["std"])
    return statistics.fmean(shifts) if shifts else None


def run_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """Medians over the probes (the first probe, at initialization, excluded when there are
    others) of each landscape measurement, the final test numbers, the mean training loss
    over the run (lower: faster training), the relative loss after the first steps
    (:func:`relative_loss`), the activations' shift between probes (:func:`activation_shift`)
    and the mean fraction of saturated units (sigmoid and tanh networks)."""
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
        "mean_train_loss": (
            statistics.fmean(doc["train_loss"])
            if doc["train_loss"] and doc["diverged_at"] is None
            else None
        ),
        "relative_loss": _finite_or_inf(relative_loss(doc["train_loss"], doc["diverged_at"])),
        "activation_shift": activation_shift(probes),
        "saturation": _mean([p["saturation"]["fraction"] for p in body if "saturation" in p]),
        "hessian_top": hess,
        "hvp_products": [p["hessian"]["hvp_products"] for p in probes if "hessian" in p],
        "spectrum": spectrum_summary(probes),
    }


#: The spectrum measurements a run summary carries per mode.
SPECTRUM_METRICS = ("outlier_count", "outlier_mass", "gradient_share", "top_eigenvalue")


def spectrum_summary(probes: list[dict[str, Any]]) -> dict[str, Any]:
    """Per mode of the probes' spectra (:func:`bntheory.landscape.probes.spectrum_probe`):
    the median over the probes after initialization (all of them when only one has a
    spectrum) of each of :data:`SPECTRUM_METRICS`, the series over training (``steps`` and
    one list per metric), and the last probe's density; ``{}`` without spectra."""
    with_spectrum = [p for p in probes if "spectrum" in p]
    out: dict[str, Any] = {}
    for mode in ("train", "eval"):
        rows = [(p["step"], p["spectrum"][mode]) for p in with_spectrum if mode in p["spectrum"]]
        if not rows:
            continue
        series = {
            "steps": [step for step, _ in rows],
            "outlier_count": [r["outlier_count"] for _, r in rows],
            "outlier_mass": [r["outlier_mass"] for _, r in rows],
            "gradient_share": [r["gradient_share"] for _, r in rows],
            "top_eigenvalue": [r["eigenvalues"][0] if r["eigenvalues"] else None for _, r in rows],
        }
        after = slice(1, None) if len(rows) > 1 else slice(None)
        out[mode] = {
            **{m: _median(series[m][after]) for m in SPECTRUM_METRICS},
            "series": series,
            "density": rows[-1][1]["density"],
            "bulk_edge": rows[-1][1]["bulk_edge"],
            "eigenvalues": rows[-1][1]["eigenvalues"],
            "step": rows[-1][0],
        }
    return out


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
