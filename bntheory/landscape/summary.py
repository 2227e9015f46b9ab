"""Scalar summaries of runs, for tables, the report and side-by-side comparisons."""

from __future__ import annotations

import math
import statistics
from typing import Any


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
