r"""``torch.nn`` modules of the normalizations the landscape models put after each linear/conv layer.

:class:`Norm` takes a name:

* ``"none"`` -- the identity (the standard network);
* any registered layer with BatchNorm's arguments (``"batchnorm"``, and layers registered
  later) -- its ``forward`` with per-channel ``weight`` (gamma), ``bias`` (beta) and running
  statistics, exactly as :class:`torch.nn.BatchNorm1d`/``2d`` would hold them;
* ``"noisybatchnorm"`` -- BatchNorm followed by the paper's time-varying noise (Section 2.1):
  per layer and step :math:`\mu^t\sim U(-0.5, 0.5)`, :math:`\sigma^t\sim U(1, 1.25)`; per
  activation :math:`m^t\sim U(\mu^t-0.1, \mu^t+0.1)`, :math:`s^t\sim N(\sigma^t, 0.1)`; output
  :math:`s\,a + m` (training mode only; draws from torch's global RNG, which checkpoints save);
* ``"l1batchnorm"``, ``"l2batchnorm"``, ``"linfbatchnorm"`` -- the paper's :math:`\ell_p`
  batch normalization (Section 3.3): subtract the batch mean, divide by the batch average of
  the :math:`\ell_p` norm (:math:`(\overline{|c|^p})^{1/p}` for p = 1, 2; :math:`\max|c|` for
  :math:`p=\infty`), then ``gamma``, ``beta``; running statistics as BatchNorm's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bntheory.errors import UnknownLayerError

LP_NORMS = {"l1batchnorm": 1.0, "l2batchnorm": 2.0, "linfbatchnorm": float("inf")}
LOCAL = ("none", "noisybatchnorm", *LP_NORMS)


def norm_names() -> list[str]:
    """Every name :class:`Norm` accepts: the local ones and the registered layers."""
    from bntheory.norms import layer_names

    return list(dict.fromkeys([*LOCAL, *layer_names()]))


def check_norm(name: str) -> None:
    """Raise :class:`UnknownLayerError` (listing every known name) unless ``name`` is one."""
    known = norm_names()
    if name not in known:
        raise UnknownLayerError(f"unknown normalization {name!r}; known: {', '.join(known)}")


class Norm(nn.Module):
    """A normalization over the batch (and spatial) axes of ``(N, C, *)`` activations."""

    def __init__(self, name: str, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        check_norm(name)
        from bntheory.norms import get_layer

        # the registered layer behind the forward (noisy BatchNorm adds its noise to BatchNorm's)
        base = "batchnorm" if name == "noisybatchnorm" else name
        self.layer = None if name in ("none", *LP_NORMS) else get_layer(base)
        self.name, self.eps, self.momentum = name, eps, momentum
        if name != "none":
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))

    def extra_repr(self) -> str:
        return self.name

    def forward(self, x: Tensor) -> Tensor:
        if self.name == "none":
            return x
        if self.name in LP_NORMS:
            return self._lp(x, LP_NORMS[self.name])
        out = self.layer.forward(x, self.running_mean, self.running_var, self.weight, self.bias,
                                      self.training, self.momentum, self.eps)
        if self.name == "noisybatchnorm" and self.training:
            out = self._noise(out)
        return out

    @staticmethod
    def _noise(a: Tensor) -> Tensor:
        opts = dict(dtype=a.dtype, device=a.device)
        mu_t = torch.empty((), **opts).uniform_(-0.5, 0.5)
        sigma_t = torch.empty((), **opts).uniform_(1.0, 1.25)
        m = torch.empty_like(a).uniform_(-0.1, 0.1) + mu_t
        s = torch.randn_like(a) * 0.1 + sigma_t
        return s * a + m

    def _lp(self, x: Tensor, p: float) -> Tensor:
        dims = (0, *range(2, x.dim()))
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.training:
            mu = x.mean(dims, keepdim=True)
            c = x - mu
            if p == float("inf"):
                scale = c.abs().amax(dims, keepdim=True)
            else:
                scale = c.abs().pow(p).mean(dims, keepdim=True).pow(1 / p)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(mu.reshape(-1), alpha=self.momentum)
                self.running_var.mul_(1 - self.momentum).add_(scale.reshape(-1), alpha=self.momentum)
        else:  # running_var holds the running average of the l_p scale for these layers
            c = x - self.running_mean.reshape(shape)
            scale = self.running_var.reshape(shape)
        return self.weight.reshape(shape) * c / (scale + self.eps) + self.bias.reshape(shape)
