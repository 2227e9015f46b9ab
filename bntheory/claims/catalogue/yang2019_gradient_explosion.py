r"""Yang, Pennington, Rao, Sohl-Dickstein & Schoenholz (ICLR 2019): gradient explosion.

"A Mean Field Theory of Batch Normalization": at initialization, in a deep fully connected
network with BatchNorm before the activation and Gaussian weights, the squared gradient norm
grows by a constant factor per layer going backwards, :math:`\pi/(\pi-1)` for ReLU at large
width and batch.  The constant is derived with SymPy (:mod:`bntheory.symbolic.meanfield`,
``proofs/p13_gradient_explosion.py``): :math:`\lambda_\phi = E[\phi'(z)^2]/\mathrm{Var}[\phi(z)]`
for :math:`z\sim N(0,1)`, exactly :math:`\pi/(\pi-1)` for ReLU and 1 for linear units, by
quadrature for tanh.

Measured: a :class:`~bntheory.cases.deepnets.DeepNet` of ``depth`` layers, the loss
:math:`\langle G, h_L\rangle` with Gaussian ``G``, the squared norms
:math:`\|\partial L/\partial h_l\|^2` by autograd through the batch statistics, and the rate
:math:`\exp(-\text{slope})` of a least-squares line through :math:`\log\|\partial L/\partial
h_l\|^2` over the middle half of the layers (the first quarter lets the batch's Gram matrix
reach its fixed point, the last quarter lets the gradient forget the random ``G``).  One
network per seed; the claim is supported when the 95 % interval of the mean rate lies within
5 % of the prediction.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from bntheory.cases.deepnets import DeepNet
from bntheory.claims.measured import MeasuredJudge, interval
from bntheory.claims.model import Claim, ClaimInfo
from bntheory.symbolic.meanfield import B, linear_rate_finite_batch, rate_value

ORDER = 70

#: The network the verdict is measured on: "large width and batch" on a CPU.
WIDTH, BATCH, DEPTH = 512, 128, 40
#: The relative band around the prediction that counts as agreement.
BAND = 0.05
#: The sweep of the figure: batch sizes and widths (3 seeds each).
FIGURE_BATCHES = (8, 16, 32, 64, 128)
FIGURE_WIDTHS = (128, 512)
FIGURE_SEEDS = 3
ACTIVATIONS = ("relu", "tanh", "linear")


def measured_rate(net: DeepNet) -> float:
    """The per-layer growth factor of ``||dL/dh_l||^2`` going backwards (see the module)."""
    g = net.gradient_norms()
    lo, hi = net.depth // 4, 3 * net.depth // 4
    layers = np.arange(lo, hi + 1)
    slope = np.polyfit(layers, np.log(g[lo : hi + 1]), 1)[0]
    return math.exp(-slope)


@functools.cache
def predicted_rate(activation: str) -> float:
    """The mean-field rate :math:`E[\\phi'^2]/\\mathrm{Var}[\\phi]` (SymPy)."""
    return rate_value(activation)


def _measure(seed: int, regime: str) -> float:
    return measured_rate(DeepNet(WIDTH, DEPTH, BATCH, regime, "batchnorm", seed))


def _summarize(regime: str, samples: list[float], per_seed: list[dict]) -> dict:
    lo, hi = interval(samples, 0.95)
    series = []
    for width in FIGURE_WIDTHS:
        rates = [
            [
                measured_rate(DeepNet(width, DEPTH, b, regime, "batchnorm", 1000 + s))
                for s in range(FIGURE_SEEDS)
            ]
            for b in FIGURE_BATCHES
        ]
        series.append(
            {
                "label": f"measured, width {width}",
                "x": list(FIGURE_BATCHES),
                "y": [float(np.mean(r)) for r in rates],
                "lo": [float(np.min(r)) for r in rates],
                "hi": [float(np.max(r)) for r in rates],
            }
        )
    lines = [
        {
            "label": f"prediction {predicted_rate(regime):.4f} (large batch)",
            "y": predicted_rate(regime),
        }
    ]
    if regime == "linear":
        formula = linear_rate_finite_batch()
        series.append(
            {
                "label": "(B-2)/(B-3), finite-batch linear heuristic",
                "x": list(FIGURE_BATCHES),
                "y": [float(formula.subs(B, b)) for b in FIGURE_BATCHES],
                "style": "dashed",
            }
        )
    return {
        "measured_rate": float(np.mean(samples)),
        "measured_rate_interval": [lo, hi],
        "predicted_rate": predicted_rate(regime),
        "network": {"width": WIDTH, "batch": BATCH, "depth": DEPTH},
        "plot": {
            "kind": "curves",
            "title": f"{regime} units: the rate per layer against the batch size",
            "x_label": "batch size B",
            "y_label": "growth of ||dL/dh||^2 per layer",
            "x_log": True,
            "series": series,
            "lines": lines,
        },
    }


def judge(constant: float | None = None) -> MeasuredJudge:
    """The claim's judge: the measured rate within ``BAND`` of the regime's prediction, or of
    ``constant`` (a planted false constant in the tests)."""
    return MeasuredJudge(
        statistic="growth of the squared gradient norm per layer (backwards)",
        measure=_measure,
        threshold=float("nan"),
        alternative="within",
        summarize=_summarize,
        per_regime=lambda regime: within(predicted_rate(regime) if constant is None else constant),
    )


def within(target: float) -> tuple[str, float, tuple[float, float]]:
    """The claim "equals ``target`` up to ``BAND``" for the measured judge."""
    return "within", target, (target * (1 - BAND), target * (1 + BAND))


CLAIMS = (
    Claim(
        ClaimInfo(
            id="yang2019.gradient-explosion",
            source="Yang, Pennington, Rao, Sohl-Dickstein & Schoenholz (ICLR 2019), "
            "mean-field gradient explosion",
            statement=(
                r"\frac{\|\partial L/\partial h_{l-1}\|^2}{\|\partial L/\partial h_l\|^2}"
                r"\to\lambda_\phi = \frac{E[\phi'(z)^2]}{\mathrm{Var}[\phi(z)]},\qquad"
                r"\lambda_{\mathrm{ReLU}} = \frac{\pi}{\pi - 1}"
            ),
            case_space=(
                f"a fully connected network of depth {DEPTH}, width {WIDTH}, BatchNorm "
                f"(training mode) before each activation, Gaussian weights, a batch of "
                f"{BATCH} Gaussian inputs; one network per seed"
            ),
            reading=(
                "The printed constant is the large-width, large-batch limit; it is judged at "
                f"width {WIDTH} and batch {BATCH}: supported when the 95 % interval of the "
                f"measured rate lies within {BAND:.0%} of the prediction. The same "
                "mean-field formula gives the tanh and linear predictions (regimes). The "
                "figure shows the finite-batch departure."
            ),
            paper="yang2019",
            title="Gradient explosion in BatchNorm networks at initialization",
            derivation="gradient-explosion.md",
        ),
        judge(),
        regimes=ACTIVATIONS,
    ),
)
