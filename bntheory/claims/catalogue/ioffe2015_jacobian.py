r"""Ioffe & Szegedy (2015): "Batch Normalization may lead the layer Jacobians to have singular
values close to 1, which is known to be beneficial for training" (seed 001).

Measured: the Jacobian :math:`\partial h_l/\partial h_{l-1}` of one layer
:math:`h_l = \phi(\mathrm{BN}(h_{l-1}W_l^\top))` of a deep fully connected network at
initialization (:class:`~bntheory.cases.deepnets.DeepNet`), taken through the batch
statistics (``torch.func.jacrev``: a :math:`Bn\times Bn` matrix, every sample's output
depends on every sample's input), at the middle layer, and its singular values (LAPACK).
The statement is vague; two readings are judged, each for linear, ReLU and tanh units:

* ``rms`` -- "close to 1 on average": the root-mean-square singular value
  :math:`\sqrt{\|J\|_F^2/(Bn)}` (the gain of a random direction) lies within a factor
  :math:`\sqrt2` of 1;
* ``bulk`` -- "the singular values are close to 1": at least 90 % of them lie in
  :math:`[1/2, 2]`, after setting aside the :math:`2n` that BatchNorm makes zero by
  construction (each feature's batch loses its shift and its scale).

The figure shows the spectra beside those of the same network without BatchNorm (He/Glorot
gain), the control the conjecture compares against.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from bntheory.cases.deepnets import DeepNet
from bntheory.claims.measured import MeasuredJudge
from bntheory.claims.model import Claim, ClaimInfo

ORDER = 60

WIDTH, BATCH, DEPTH = 64, 16, 8
#: The configurations of the table (width, batch), seeds 0-2 each.
TABLE = ((16, 8), (32, 8), (32, 16), (64, 16))
ACTIVATIONS = ("linear", "relu", "tanh")
READINGS = {
    "rms": "root-mean-square singular value within [1/sqrt 2, sqrt 2]",
    "bulk": "fraction of the singular values in [1/2, 2] (BatchNorm's 2n zeros set aside) > 0.9",
}
BULK_FRACTION = 0.9
EDGES = np.linspace(-3.0, 1.0, 41)  # log10 of the singular values


@functools.lru_cache(maxsize=64)
def spectrum(width: int, batch: int, activation: str, norm: str, seed: int) -> np.ndarray:
    """The singular values of the middle layer's Jacobian, descending."""
    net = DeepNet(width, DEPTH, batch, activation, norm, seed)
    jac = net.layer_jacobian(DEPTH // 2)
    return torch.linalg.svdvals(jac).numpy()


def rms(s: np.ndarray) -> float:
    """The root-mean-square singular value."""
    return float(np.sqrt(np.mean(s * s)))


def bulk(s: np.ndarray, width: int, norm: str) -> float:
    """The fraction in ``[1/2, 2]`` of the singular values, without BatchNorm's ``2 width``
    structural zeros (the smallest ones)."""
    kept = s[: len(s) - 2 * width] if norm == "batchnorm" else s
    return float(np.mean((kept >= 0.5) & (kept <= 2.0)))


def statistic(reading: str, s: np.ndarray, width: int, norm: str) -> float:
    """The reading's statistic of a spectrum."""
    return rms(s) if reading == "rms" else bulk(s, width, norm)


def parse(regime: str) -> tuple[str, str]:
    """``"rms, relu"`` as ``("rms", "relu")``."""
    reading, act = (part.strip() for part in regime.split(","))
    return reading, act


def _measure(seed: int, regime: str) -> float:
    reading, act = parse(regime)
    return statistic(reading, spectrum(WIDTH, BATCH, act, "batchnorm", seed), WIDTH, "batchnorm")


def _histogram(values: np.ndarray) -> list[int]:
    clipped = np.clip(np.log10(np.maximum(values, 1e-300)), EDGES[0], EDGES[-1])
    return np.histogram(clipped, EDGES)[0].tolist()


def _summarize(regime: str, samples: list[float], per_seed: list[dict]) -> dict:
    reading, act = parse(regime)
    rows = []
    for width, batch in TABLE:
        cells = [width, batch]
        for norm in ("batchnorm", "none"):
            vals = [
                statistic(reading, spectrum(width, batch, act, norm, s), width, norm)
                for s in range(3)
            ]
            cells.append(float(np.mean(vals)))
        rows.append(cells)
    series = []
    for norm in ("batchnorm", "none"):
        pooled = np.concatenate([spectrum(WIDTH, BATCH, act, norm, s) for s in range(3)])
        series.append(
            {
                "label": f"{norm} ({int((pooled < 1e-3).sum())} values below 1e-3, in the "
                "first bin)",
                "counts": _histogram(pooled),
            }
        )
    return {
        "table": {
            "caption": f"{READINGS[reading]}: mean over seeds 0-2 per width and batch",
            "columns": ["width", "batch", "with BatchNorm", "without"],
            "rows": rows,
        },
        "plot": {
            "kind": "histogram",
            "title": f"{act}: singular values of dh_l/dh_(l-1) (width {WIDTH}, batch {BATCH})",
            "x_label": "log10 singular value",
            "edges": EDGES.tolist(),
            "series": series,
            "marks": [math.log10(0.5), 0.0, math.log10(2.0)],
        },
    }


def judge(bulk_fraction: float = BULK_FRACTION) -> MeasuredJudge:
    """The claim's judge; ``bulk_fraction`` is the reading's required fraction."""
    return MeasuredJudge(
        statistic="the reading's spectral statistic",
        measure=_measure,
        threshold=float("nan"),
        alternative="within",
        summarize=_summarize,
        per_regime=lambda regime: (
            ("within", 1.0, (2**-0.5, 2**0.5))
            if parse(regime)[0] == "rms"
            else ("greater", bulk_fraction, None)
        ),
    )


CLAIMS = (
    Claim(
        ClaimInfo(
            id="ioffe2015.jacobian-singular-values",
            source="Ioffe & Szegedy (2015), Section 3.3 (seed 001)",
            statement=(
                r"\sigma_i\!\left(\frac{\partial h_l}{\partial h_{l-1}}\right)\approx 1,\qquad "
                r"h_l = \phi(\mathrm{BN}(h_{l-1}W_l^\top))"
            ),
            case_space=(
                f"a fully connected network of depth {DEPTH}, width {WIDTH}, BatchNorm "
                f"(training mode) before each activation, Gaussian weights N(0, 1/n), a batch "
                f"of {BATCH} Gaussian inputs; the Jacobian of layer {DEPTH // 2} through the "
                "batch statistics; one network per seed"
            ),
            reading=(
                "Two readings, per activation (the regimes): rms: "
                + READINGS["rms"]
                + "; bulk: "
                + READINGS["bulk"]
                + "."
            ),
            paper="ioffe2015",
            title="Singular values of the layer Jacobians under BatchNorm",
        ),
        judge(),
        regimes=tuple(f"{r}, {a}" for r in READINGS for a in ACTIVATIONS),
    ),
)
