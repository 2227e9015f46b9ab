r"""Bjorck, Gomes, Selman & Weinberger (NeurIPS 2018, seed 004): activations at initialization.

"When BN is applied, the activations are indeed contained within a roughly constant value
across layers, while the mean and standard deviation of channels grow exponentially with
depth" without it.  The seed's network is a 110-layer residual network on CIFAR-10; here a
residual convolutional network of the same design at the depth of a ResNet-56 (27 blocks of
16 channels, the original ResNet's block
:math:`h_{l+1} = \mathrm{ReLU}(h_l + F(h_l))`, :math:`F = \mathrm{conv}\circ\mathrm{ReLU}
\circ\mathrm{conv}`, each conv followed by training-mode BatchNorm in the normalized network),
He-initialized, fed a batch of 64 of scikit-learn's digits (8x8, standardized).  Per block and
channel: the mean and the variance over the batch and the pixels, drawn as the seed's heat
maps.

The statistic per seed: the growth over the depth of the channel-averaged variance (or
absolute mean), :math:`10^{\text{slope}\,(L-1)}` of a least-squares line through its
:math:`\log_{10}` against the block index.  Without normalization the claim is that it grows
(by more than a factor 10 over the depth: "exponentially"); with BatchNorm that it stays
within a factor 10.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from bntheory.claims.measured import MeasuredJudge
from bntheory.claims.model import Claim, ClaimInfo
from bntheory.norms import get_layer

ORDER = 90

BLOCKS, CHANNELS, BATCH = 27, 16, 64
FACTOR = 10.0
REGIMES = {
    "none, variance": ("none", "variance", "greater"),
    "none, mean": ("none", "mean", "greater"),
    "batchnorm, variance": ("batchnorm", "variance", "less"),
    "batchnorm, mean": ("batchnorm", "mean", "less"),
}


@functools.cache
def digits() -> torch.Tensor:
    """The first 1797 digits as ``(N, 1, 8, 8)`` float64, standardized over the data set."""
    from sklearn.datasets import load_digits

    x = load_digits().images.astype(np.float64)
    x = (x - x.mean()) / x.std()
    return torch.as_tensor(x[:, None])


def _he(rng: np.random.Generator, c_out: int, c_in: int) -> torch.Tensor:
    std = math.sqrt(2.0 / (c_in * 9))
    return torch.as_tensor(rng.normal(0.0, std, size=(c_out, c_in, 3, 3)))


@functools.lru_cache(maxsize=64)
def channel_moments(norm: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(means, variances)``, each ``(BLOCKS, CHANNELS)``: every block output's channels."""
    rng = np.random.default_rng([seed, 2018])
    data = digits()
    x = data[torch.as_tensor(rng.choice(len(data), BATCH, replace=False))]
    bn = get_layer("batchnorm")

    def conv(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(h, w, padding=1)
        if norm == "batchnorm":
            y = bn.stateless_forward(y, None, None, None, None, True, 0.1, 1e-5)
        return y

    h = torch.relu(conv(x, _he(rng, CHANNELS, 1)))
    means, variances = [], []
    for _ in range(BLOCKS):
        branch = conv(
            torch.relu(conv(h, _he(rng, CHANNELS, CHANNELS))), _he(rng, CHANNELS, CHANNELS)
        )
        h = torch.relu(h + branch)
        means.append(h.mean((0, 2, 3)).numpy())
        variances.append(h.var((0, 2, 3), unbiased=False).numpy())
    return np.array(means), np.array(variances)


def growth(norm: str, what: str, seed: int) -> float:
    """The growth over the depth of the channel-averaged |mean| or variance (see the module)."""
    means, variances = channel_moments(norm, seed)
    per_block = np.abs(means).mean(1) if what == "mean" else variances.mean(1)
    slope = np.polyfit(np.arange(BLOCKS), np.log10(per_block), 1)[0]
    return float(10 ** (slope * (BLOCKS - 1)))


def _summarize(regime: str, samples: list[float], per_seed: list[dict]) -> dict:
    norm, what, _ = REGIMES[regime]
    means, variances = channel_moments(norm, 0)
    values = np.abs(means) if what == "mean" else variances
    return {
        "per_block_factor": float(np.mean(samples) ** (1 / (BLOCKS - 1))),
        "plot": {
            "kind": "heatmap",
            "title": f"{norm}: log10 channel {'|mean|' if what == 'mean' else 'variance'} (seed 0)",
            "x_label": "channel",
            "y_label": "block",
            "matrix": [[math.log10(x) if x > 0 else None for x in row] for row in values],
        },
    }


def judge(factor: float = FACTOR) -> MeasuredJudge:
    """The claim's judge; ``factor`` is the growth that separates the two claims."""
    return MeasuredJudge(
        statistic=f"growth over {BLOCKS} blocks of the channel-averaged moment",
        measure=lambda seed, regime: growth(*REGIMES[regime][:2], seed),
        threshold=factor,
        summarize=_summarize,
        per_regime=lambda regime: (REGIMES[regime][2], factor, None),
    )


CLAIMS = (
    Claim(
        ClaimInfo(
            id="bjorck2018.activation-growth",
            source="Bjorck, Gomes, Selman & Weinberger (NeurIPS 2018), Fig. 5 (seed 004)",
            statement=(
                r"\text{no BN: } \mathrm{mean}_c,\ \mathrm{var}_c \text{ of } h_l "
                r"\text{ grow exponentially in } l;\qquad \text{BN: they stay roughly constant}"
            ),
            case_space=(
                f"a residual conv network at initialization ({BLOCKS} blocks of {CHANNELS} "
                f"channels, He init), a batch of {BATCH} digits; one network and batch per seed"
            ),
            reading=(
                "Grow exponentially: the channel-averaged moment grows by more than a factor "
                f"{FACTOR:g} over the {BLOCKS} blocks (a log-linear fit); roughly constant: "
                f"within a factor {FACTOR:g}."
            ),
            paper="bjorck2018",
            notes=(
                "With BatchNorm each block adds a branch of unit variance per channel to the "
                "residual stream, so the stream's variance grows about linearly with the "
                "number of blocks rather than staying constant; the verdict of "
                '"roughly constant" therefore depends on the depth, and the per-block factor '
                "below shows how far from flat it is.",
            ),
            title="Activation growth with depth, with and without BatchNorm",
        ),
        judge(),
        regimes=tuple(REGIMES),
    ),
)
