r"""Noisy BatchNorm: BatchNorm followed by the paper's time-varying noise (Section 2.1).

BatchNorm's arguments plus ``noise``.  In training mode the output is :math:`s\odot a + n`,
:math:`a` BatchNorm's output, with per call (layer and step)
:math:`\mu^t\sim U(-0.5, 0.5)`, :math:`\sigma^t\sim U(1, 1.25)` and per activation
:math:`n\sim U(\mu^t-0.1, \mu^t+0.1)`, :math:`s\sim N(\sigma^t, 0.1)`.  ``noise`` is an int
(the seed of a CPU generator the draw comes from: the same seed gives the same noise on every
device), a pair ``(s, n)`` of input-shaped tensors, or None (no noise: BatchNorm).  For
fixed noise the map is BatchNorm with the elementwise affine map
:math:`\gamma\to s\odot\gamma`, :math:`\beta\to s\odot\beta + n`, so its closed forms are
:mod:`bntheory.norms.grouped`'s with that :math:`\gamma` (which varies inside a channel).
Eval mode has no noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from bntheory.errors import InvalidArgumentError
from bntheory.norms import grouped, validate
from bntheory.norms.batchnorm import BatchNorm, parse_args

_BN = BatchNorm()


def draw_noise(
    shape: tuple[int, ...],
    dtype: torch.dtype,
    device: str | torch.device,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """``(s, n)`` of the paper's noise model, from ``generator`` (None: torch's global RNG)."""
    opts = dict(dtype=dtype, device=device)
    mu_t = torch.empty((), **opts).uniform_(-0.5, 0.5, generator=generator)
    sigma_t = torch.empty((), **opts).uniform_(1.0, 1.25, generator=generator)
    shift = torch.empty(shape, **opts).uniform_(-0.1, 0.1, generator=generator) + mu_t
    scale = torch.randn(shape, **opts, generator=generator) * 0.1 + sigma_t
    return scale, shift


class NoisyBatchNorm(grouped.GroupNormalization):
    """BatchNorm with the paper's multiplicative and additive noise after it."""

    name = "noisybatchnorm"
    title = "noisy BatchNorm"

    @staticmethod
    def _split(args: tuple, kwargs: dict) -> tuple[tuple, dict, Any]:
        """BatchNorm's arguments and ``noise`` (the eighth positional argument, default 0)."""
        if len(args) > 7:
            return args[:7], kwargs, args[7]
        kwargs = dict(kwargs)
        return args, kwargs, kwargs.pop("noise", 0)

    def noise(self, x: Tensor, noise: Any) -> tuple[Tensor, Tensor] | None:
        """The noise ``(s, n)`` of a call, input-shaped: drawn from the seed ``noise`` (an
        int), the pair ``noise`` itself (checked), or None for ``noise=None``."""
        if noise is None:
            return None
        if isinstance(noise, int) and not isinstance(noise, bool):
            gen = torch.Generator().manual_seed(noise)
            s, n = draw_noise(tuple(x.shape), torch.float64, "cpu", gen)
            return s.to(device=x.device, dtype=x.dtype), n.to(device=x.device, dtype=x.dtype)
        if isinstance(noise, (tuple, list)) and len(noise) == 2:
            for name, t in zip(("noise scale", "noise shift"), noise):
                validate.check_like(self.name, name, t, x)
            return noise[0], noise[1]
        raise InvalidArgumentError(
            f"{self.name}: noise must be an int seed, a pair (scale, shift) of input-shaped "
            f"tensors, or None, got {type(noise).__name__}"
        )

    def plan(self, x: Tensor, *args: Any, **kwargs: Any) -> grouped.Plan:
        r"""BatchNorm's groups, with :math:`\gamma \to s\odot\gamma` and
        :math:`\beta \to s\odot\beta + n` in training; eval mode: the running statistics."""
        args, kwargs, noise = self._split(args, kwargs)
        a = parse_args(x, *args, **kwargs)
        gamma, beta = a.per_channel(a.weight), a.per_channel(a.bias)
        if not a.training:
            mu, var = a.per_channel(a.running_mean), a.per_channel(a.running_var)
            return grouped.Plan(
                layer=self.name,
                view=lambda t: t,
                unview=lambda t: t,
                dims=a.dims,
                m=a.m,
                gamma=gamma,
                beta=beta,
                eps=a.eps,
                center=True,
                kind="std",
                fixed=(mu, torch.sqrt(var + a.eps)),
            )
        drawn = self.noise(x, noise)
        if drawn is not None:
            s, n = drawn
            gamma = s if gamma is None else s * gamma
            beta = n if beta is None else s * beta + n
        return grouped.Plan(
            layer=self.name,
            view=lambda t: t,
            unview=lambda t: t,
            dims=a.dims,
            m=a.m,
            gamma=gamma,
            beta=beta,
            eps=a.eps,
            center=True,
            kind="std",
        )

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """BatchNorm's forward (running statistics updated as torch does), then the noise."""
        return self._noisy(_BN.forward, x, args, kwargs)

    def stateless_forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """BatchNorm's forward without the running-statistics update, then the noise."""
        return self._noisy(_BN.stateless_forward, x, args, kwargs)

    def _noisy(self, bn_map, x: Tensor, args: tuple, kwargs: dict) -> Tensor:
        args, kwargs, noise = self._split(args, kwargs)
        out = bn_map(x, *args, **kwargs)
        if parse_args(x, *args, **kwargs).training:
            drawn = self.noise(x, noise)
            if drawn is not None:
                out = drawn[0] * out + drawn[1]
        return out

    def module_forward(
        self, x, *, weight, bias, running_mean, running_var, training, momentum, eps
    ):
        """In training, fresh noise from torch's global RNG at every call (the paper's
        "time-varying" noise)."""
        noise = draw_noise(tuple(x.shape), x.dtype, x.device) if training else None
        return self.forward(
            x, running_mean, running_var, weight, bias, training, momentum, eps, noise
        )

    def symbolic(self, y: Sequence[Any], params: dict[str, Any]) -> list[Any]:
        r"""The noise-free map (``noise=None``): BatchNorm's.  With noise drawn, the map is
        this one followed by the diagonal affine map :math:`a\mapsto s\odot a + n`."""
        return _BN.symbolic(y, params)

    def example_kwargs(self, shape, *, eps, training, weight_kind, rng, device="cpu"):
        """BatchNorm's example arguments and an int seed ``noise``."""
        kw = _BN.example_kwargs(
            shape, eps=eps, training=training, weight_kind=weight_kind, rng=rng, device=device
        )
        return kw | {"noise": int(rng.integers(2**31))}

    def symbolic_input(self, y, gamma, beta, eps):
        """BatchNorm's, with ``noise=None``: the map :meth:`symbolic` computes."""
        x, kw = _BN.symbolic_input(y, gamma, beta, eps)
        return x, kw | {"noise": None}

    def groups(self, t: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """``(N, C, *)`` -> ``(C, m)``: one row per channel, as BatchNorm's."""
        return _BN.groups(t)
