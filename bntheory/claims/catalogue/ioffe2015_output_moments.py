r"""Ioffe & Szegedy (2015): BatchNorm normalizes each channel to zero mean and unit variance.

The claim, judged at initialization (``gamma = 1``, ``beta = 0``) in training mode, over a case
space of its own: a deep fully-connected network (Linear, BatchNorm, activation, repeated) on a
random input batch.  Every BatchNorm layer's output ``z`` must have, per channel, the batch
mean 0 and the biased batch variance :math:`\mathrm{var}/(\mathrm{var}+\varepsilon)` of its
input ``y`` -- "unit variance" as printed holds only at ``eps = 0``, so the reading judged is
the exact one.  With ``eps = 0`` a constant channel has no output: cases where some
BatchNorm input channel has ``var = 0`` are outside the claim.

The search judge draws networks from :class:`NetworkSpace`; a case's JSON (depth, widths,
batch size, activation, input family, ``eps`` and the seed of every weight) replays it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from hypothesis import strategies as st

from bntheory.cases.batches import FAMILIES, channel_batch
from bntheory.cases.latex import number
from bntheory.cases.strategies import THEOREM_EPS
from bntheory.claims.model import Claim, ClaimInfo
from bntheory.claims.search import SearchJudge
from bntheory.errors import ZeroVarianceError
from bntheory.norms import get_layer
from bntheory.theorems.margin import Margin
from bntheory.verify.errormodel import ratio, relative_tolerance

ORDER = 30

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda t: t}


@dataclass(frozen=True)
class Network:
    """A network at initialization and its input batch, all drawn from ``seed``."""

    widths: tuple[int, ...]  # input width, then the width of every layer
    m: int
    activation: str
    family: str
    eps: float
    seed: int

    def to_json(self) -> dict:
        """The numbers that rebuild the network and its batch."""
        return {
            "widths": list(self.widths),
            "m": self.m,
            "activation": self.activation,
            "family": self.family,
            "eps": self.eps,
            "seed": self.seed,
        }

    @staticmethod
    def from_json(d: dict) -> Network:
        """The network of :meth:`to_json`'s numbers."""
        return Network(
            tuple(int(w) for w in d["widths"]),
            int(d["m"]),
            str(d["activation"]),
            str(d["family"]),
            float(d["eps"]),
            int(d["seed"]),
        )

    def batchnorm_inputs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each BatchNorm layer's input ``y`` and output ``z``, ``(m, width)`` each, from a
        forward pass of the registered BatchNorm layer in training mode."""
        rng = np.random.default_rng(self.seed)
        h = torch.as_tensor(channel_batch(self.family, rng, (self.m, self.widths[0])))
        bn = get_layer("batchnorm")
        out = []
        for fan_in, width in zip(self.widths, self.widths[1:]):
            w = torch.as_tensor(rng.normal(size=(width, fan_in)) / np.sqrt(fan_in))
            b = torch.as_tensor(rng.normal(size=width) * 0.1)
            y = h @ w.T + b
            ones = torch.ones(width, dtype=torch.float64)
            z = bn.stateless_forward(
                y, None, None, ones, torch.zeros_like(ones), True, 0.1, self.eps
            )
            out.append((y, z))
            h = ACTIVATIONS[self.activation](z)
        return out


def _margin(net: Network) -> tuple[Margin, dict[str, float]]:
    """The worst channel of any layer: ``|mean z|`` against 0 and ``var z`` against
    ``var/(var+eps)``, each against the error model's bound for that channel."""
    bn = get_layer("batchnorm")
    try:
        layers = net.batchnorm_inputs()
    except ZeroVarianceError:  # eps = 0 and a constant channel: outside the claim
        return Margin(0.0, 0.0, 0.0, False), {}
    worst: tuple[float, Margin, dict] | None = None
    for layer, (y, z) in enumerate(layers, start=1):
        var = y.var(dim=0, unbiased=False)
        ones = torch.ones(y.shape[1], dtype=torch.float64)
        kappa = bn.condition(y, None, None, ones, torch.zeros_like(ones), True, 0.1, net.eps)
        tol = relative_tolerance(torch.float64, kappa, net.m)
        mean_z = z.mean(dim=0)
        var_z = z.var(dim=0, unbiased=False)
        target = var / (var + net.eps)
        checks = (
            ("mean", mean_z, torch.zeros_like(mean_z), z.abs().amax(dim=0)),
            ("variance", var_z, target, var_z.abs() + target.abs()),
        )
        for what, lhs, rhs, scale in checks:
            err = (lhs - rhs).abs()
            # the share of the error model's bound used (0/0 = 0: two exact zeros agree); a
            # NaN output is as wrong as can be
            used = torch.nan_to_num(ratio(err, tol * scale), nan=np.inf)
            j = int(used.argmax())
            mg = Margin(-float(err[j]), float(scale[j]), float(tol[j] * scale[j]), True)
            sides = {
                "lhs": float(lhs[j]),
                "rhs": float(rhs[j]),
                "tolerance": mg.tolerance,
                "layer": layer,
                "channel": j,
                "quantity": what,
            }
            if worst is None or float(used[j]) > worst[0]:
                worst = (float(used[j]), mg, sides)
    assert worst is not None
    return worst[1], worst[2]


@dataclass(frozen=True)
class NetworkSpace:
    """Deep fully-connected networks at initialization on random input batches."""

    description: str = (
        "a fully-connected network (Linear, BatchNorm in training mode, activation) of 1-4 layers "
        "of width 1-8 at initialization, on a random batch of m = 2-32 inputs"
    )

    def strategy(self, regime: str):
        """Networks of ``regime``: its ``eps`` values, every activation and input family."""

        @st.composite
        def networks(draw) -> Network:
            depth = draw(st.integers(1, 4))
            widths = tuple(draw(st.integers(1, 8)) for _ in range(depth + 1))
            return Network(
                widths,
                draw(st.integers(2, 32)),
                draw(st.sampled_from(sorted(ACTIVATIONS))),
                draw(st.sampled_from(list(FAMILIES))),
                draw(st.sampled_from(THEOREM_EPS[regime])),
                draw(st.integers(0, 2**32 - 1)),
            )

        return networks()

    def to_json(self, case: Network) -> dict:
        """The case's numbers."""
        return case.to_json()

    def from_json(self, data: dict) -> Network:
        """The case of :meth:`to_json`'s numbers."""
        return Network.from_json(data)

    def formulas(self, data: dict, sides: dict | None) -> list[str]:
        """The network and the violated moment as display formulas."""
        widths = r"\to".join(str(w) for w in data["widths"])
        out = [
            rf"\text{{widths}}\ {widths},\quad m = {data['m']},\quad "
            rf"\text{{{data['activation']}}},\quad \varepsilon = {number(data['eps'])},\quad "
            rf"\text{{{data['family'].replace('_', ' ')} inputs, seed {data['seed']}}}"
        ]
        if sides:
            out.append(
                rf"\text{{layer {sides['layer']}, channel {sides['channel']}, "
                rf"{sides['quantity']}:}}"
                rf"\ {number(sides['lhs'], 10)}\ \text{{vs}}\ {number(sides['rhs'], 10)},"
                rf"\quad \text{{rounding allows}}\ {number(sides['tolerance'], 3)}"
            )
        return out


CLAIMS = (
    Claim(
        ClaimInfo(
            id="ioffe2015.output-moments",
            source="Ioffe & Szegedy (2015), the BatchNorm transform (seed 001)",
            statement=(
                r"\frac1m\sum_{b} z_j^{(b)} = 0,\qquad "
                r"\frac1m\sum_{b}\big(z_j^{(b)}\big)^2 = \frac{\mathrm{var}(y_j)}"
                r"{\mathrm{var}(y_j) + \varepsilon}\quad\text{at } \gamma = 1,\ \beta = 0"
            ),
            case_space=NetworkSpace().description,
            reading=(
                "“Normalization to zero mean and unit variance” read per channel of every "
                "BatchNorm layer of a network at initialization (γ = 1, β = 0, training mode, "
                "biased batch variance); with ε > 0 the exact variance is var/(var + ε), "
                "which is the form judged."
            ),
            assumptions=(r"$\mathrm{var}(y_j) > 0$ for every channel when $\varepsilon = 0$",),
            title="BatchNorm's output moments at initialization",
            paper="ioffe2015",
        ),
        SearchJudge(NetworkSpace(), _margin, conditional=("eps=0",)),
    ),
)
