r"""Deep networks at initialization: the case space of the mean-field and signal-propagation
claims (Ioffe & Szegedy's Jacobian conjecture, Yang et al.'s gradient explosion, Daneshmand
et al.'s rank, Bjorck et al.'s activation growth).

A :class:`DeepNet` is a fully connected network of ``depth`` layers of ``width`` features fed
a batch of ``batch`` Gaussian inputs, every weight drawn i.i.d. :math:`N(0, \text{gain}/n)`
from ``seed``:

.. math::
    h_0 = X,\qquad y_l = h_{l-1} W_l^\top,\qquad z_l = \mathrm{BN}(y_l)\ (\text{or } y_l),
    \qquad h_l = \phi(z_l),

with training-mode BatchNorm (batch statistics, :math:`\gamma = 1`, :math:`\beta = 0`) from
the registry, so every derivative goes through the batch statistics, as in SGD.  ``gain`` is
the variance of a weight times the fan-in: 1 for linear and tanh units, 2 for ReLU (He et
al.), irrelevant with BatchNorm (it divides the scale out).  Everything is float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from bntheory.errors import InvalidArgumentError
from bntheory.norms import get_layer

#: Activations and their default weight gain without normalization.
ACTIVATIONS = {"linear": 1.0, "relu": 2.0, "tanh": 1.0}
#: The normalizations a deep net can have between its linear maps and its activations.
NORMS = ("none", "batchnorm")


def activation(name: str, z: Tensor) -> Tensor:
    """``phi(z)`` of the activation ``name``."""
    if name == "linear":
        return z
    if name == "relu":
        return torch.relu(z)
    if name == "tanh":
        return torch.tanh(z)
    raise InvalidArgumentError(f"activation {name!r}; known: {', '.join(ACTIVATIONS)}")


@dataclass(frozen=True)
class DeepNet:
    """A deep fully connected network at initialization and its input batch (see the module)."""

    width: int
    depth: int
    batch: int
    activation: str = "relu"
    norm: str = "batchnorm"
    seed: int = 0
    eps: float = 0.0
    gain: float | None = None  # None: the activation's default

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise InvalidArgumentError(
                f"activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}"
            )
        if self.norm not in NORMS:
            raise InvalidArgumentError(f"norm {self.norm!r}; known: {', '.join(NORMS)}")
        if self.width < 1 or self.depth < 1:
            raise InvalidArgumentError(
                f"a deep net needs width >= 1 and depth >= 1, got {self.width}, {self.depth}"
            )
        if self.norm == "batchnorm" and self.batch < 2:
            raise InvalidArgumentError(f"BatchNorm needs a batch of >= 2, got {self.batch}")

    def with_(self, **changes) -> DeepNet:
        """The same network with some fields changed."""
        return replace(self, **changes)

    def weights(self) -> list[Tensor]:
        """The ``depth`` weight matrices ``(width, width)``, from ``seed``."""
        rng = np.random.default_rng([self.seed, self.width, self.depth])
        gain = ACTIVATIONS[self.activation] if self.gain is None else self.gain
        std = math.sqrt(gain / self.width)
        return [
            torch.as_tensor(rng.normal(0.0, std, size=(self.width, self.width)))
            for _ in range(self.depth)
        ]

    def inputs(self) -> Tensor:
        """The input batch ``(batch, width)``: i.i.d. standard Gaussian, from ``seed``."""
        rng = np.random.default_rng([self.seed, self.batch, 7])
        return torch.as_tensor(rng.normal(size=(self.batch, self.width)))

    def normalize(self, y: Tensor) -> Tensor:
        """``BN(y)`` over the batch (training mode, no affine part), or ``y`` without a norm."""
        if self.norm == "none":
            return y
        bn = get_layer("batchnorm")
        return bn.stateless_forward(y, None, None, None, None, True, 0.1, self.eps)

    def layer(self, weight: Tensor, h: Tensor) -> Tensor:
        """One layer: ``phi(BN(h W^T))``."""
        return activation(self.activation, self.normalize(h @ weight.T))

    def forward(self, weights: list[Tensor] | None = None, x: Tensor | None = None) -> list[Tensor]:
        """The representations ``h_0 = X, h_1, ..., h_depth``."""
        weights = self.weights() if weights is None else weights
        hs = [self.inputs() if x is None else x]
        for w in weights:
            hs.append(self.layer(w, hs[-1]))
        return hs

    def gradient_norms(self) -> np.ndarray:
        r"""``||dL/dh_l||^2`` for ``l = 0..depth`` with the loss :math:`L = \langle G, h_L\rangle`,
        ``G`` standard Gaussian (from ``seed``): the backward pass through the batch statistics."""
        weights = self.weights()
        x = self.inputs().requires_grad_(True)
        hs = [x]
        for w in weights:
            hs.append(self.layer(w, hs[-1]))
        rng = np.random.default_rng([self.seed, 11])
        probe = torch.as_tensor(rng.normal(size=tuple(hs[-1].shape)))
        grads = torch.autograd.grad((probe * hs[-1]).sum(), hs)
        return np.array([float((g * g).sum()) for g in grads])

    def layer_jacobian(self, index: int) -> Tensor:
        """The Jacobian of ``h_index`` with respect to ``h_(index-1)``, flattened:
        ``(batch*width, batch*width)`` (``torch.func.jacrev``, through the batch statistics)."""
        if not 1 <= index <= self.depth:
            raise InvalidArgumentError(f"layer index {index} outside 1..{self.depth}")
        weights = self.weights()
        h = self.forward(weights[: index - 1])[-1]
        w = weights[index - 1]
        jac = torch.func.jacrev(lambda v: self.layer(w, v.reshape(h.shape)).reshape(-1))
        return jac(h.reshape(-1))


def stable_rank(h: Tensor) -> float:
    """``||H||_F^2 / ||H||_2^2`` (0 for the zero matrix)."""
    s = torch.linalg.svdvals(h)
    return float((s * s).sum() / (s[0] * s[0])) if s[0] > 0 else 0.0


def numerical_rank(h: Tensor, rtol: float) -> int:
    """The number of singular values above ``rtol`` times the largest."""
    s = torch.linalg.svdvals(h)
    return int((s > rtol * s[0]).sum()) if s[0] > 0 else 0
