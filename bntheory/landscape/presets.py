"""Named experiments: data, model, normalizations, learning rates, steps and probe schedule.

* ``smoke`` -- Gaussian blobs and a small MLP, seconds (the tests run it);
* ``digits`` -- scikit-learn's bundled 8x8 digits and a small VGG-style CNN (embedded default);
* ``layers`` -- the digits CNN at learning rate 0.5 with every built-in normalization layer (and
  none): the landscape measurements across layers (embedded default);
* ``dln`` -- the paper's 25-layer deep linear network on synthetic Gaussian data, full-batch
  gradient descent (embedded default);
* ``lr-grid`` -- a six-conv digits CNN without and with BatchNorm for 11 steps at learning rates
  from 0.01 to 100: where each diverges (Bjorck et al. 2018; embedded default);
* ``sigmoid``, ``tanh`` -- a digits MLP of three 100-unit sigmoid (tanh) layers, Ioffe &
  Szegedy's Figure 1 network: how many units saturate (embedded default);
* ``cifar10-vgg`` -- CIFAR-10 from a local directory (``--data``), VGG-11, batch 128,
  learning rates 0.1 and 0.5, Glorot initialization, no augmentation, none and BatchNorm;
* ``santurkar2018`` -- the paper's experiment (Santurkar et al. 2018, Figures 1-4, 7 and
  Appendix A): the same VGG-11 on CIFAR-10 with its protocol -- batch 128, Glorot
  initialization, plain SGD at the learning rates of its Figure 1 (0.1, "typical", and 0.5),
  15 000 steps (the horizon of its training curves), the normalizations none, BatchNorm,
  noisy BatchNorm and the l1, l2 and l-infinity batch normalizations; ``--data DIR`` (a local
  CIFAR-10) or ``--data synthetic`` (CIFAR-shaped synthetic images, for smoke runs).  Its
  grid is GPU-hours: run it with ``bntheory sweep`` (``--backend ray`` on a cluster).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from bntheory.errors import InvalidArgumentError
from bntheory.landscape import data as datasets
from bntheory.landscape.models import VGG11
from bntheory.landscape.train import RunConfig


@dataclass(frozen=True)
class Preset:
    """A named experiment: its data loader, base run configuration, norms and learning rates.

    :meth:`configs` expands it into one :class:`RunConfig` per (learning rate, norm).
    """

    name: str
    description: str
    load: Callable[..., datasets.Dataset]  # (seed, data_dir) -> Dataset
    base: RunConfig  # norm and lr are filled per run
    norms: tuple[str, ...]
    lrs: tuple[float, ...]

    def configs(self, norms=None, lrs=None, steps=None, device=None, seed=None) -> list[RunConfig]:
        """One run configuration per learning rate (outer) and norm (inner), in that order.

        ``norms`` and ``lrs`` replace the preset's own; ``steps``, ``device`` and ``seed``
        override the base configuration where given.
        """
        out = []
        for lr in lrs or self.lrs:
            for norm in norms or self.norms:
                c = replace(self.base, norm=norm, lr=lr)
                if steps is not None:
                    c = replace(c, steps=steps)
                if device is not None:
                    c = replace(c, device=device)
                if seed is not None:
                    c = replace(c, seed=seed)
                out.append(c)
        return out


def _cifar(seed: int, data_dir: str | None) -> datasets.Dataset:
    if not data_dir:
        raise InvalidArgumentError(
            "the CIFAR-10 presets need --data DIR: a local CIFAR-10 in the standard "
            "python-pickle layout (data_batch_1..5, test_batch; nothing is downloaded), or "
            "--data synthetic for CIFAR-shaped synthetic images (smoke runs)"
        )
    if data_dir == "synthetic":
        return datasets.synthetic_images(2048, (3, 32, 32), 10, seed=seed)
    return datasets.load_cifar10(data_dir)


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        "smoke",
        "Gaussian blobs (16 features, 4 classes), MLP 32-32, 30 SGD steps",
        lambda seed, d: datasets.synthetic_classification(512, dim=16, classes=4, seed=seed),
        RunConfig(
            model="mlp",
            norm="none",
            lr=0.1,
            steps=30,
            batch_size=64,
            probe_every=10,
            etas=(0.05, 0.2, 0.4),
            hessian_every=30,
            spectrum_every=30,
            checkpoint_every=10,
            hidden=(32, 32),
            data="synthetic_classification(512, dim=16, classes=4)",
        ),
        ("none", "batchnorm"),
        (0.1,),
    ),
    "digits": Preset(
        "digits",
        "scikit-learn digits (8x8), VGG-style CNN 16-M-32-M, batch 128, SGD",
        lambda seed, d: datasets.load_digits(seed=seed),
        RunConfig(
            model="vgg",
            norm="none",
            lr=0.1,
            steps=400,
            batch_size=128,
            probe_every=40,
            hessian_every=200,
            spectrum_every=200,
            checkpoint_every=100,
            cfg=(16, "M", 32, "M"),
            data="sklearn digits",
        ),
        ("none", "batchnorm", "noisybatchnorm"),
        (0.05, 0.5),
    ),
    "layers": Preset(
        "layers",
        "scikit-learn digits (8x8), VGG-style CNN 16-M-32-M, batch 128, SGD lr 0.5, "
        "every built-in layer",
        lambda seed, d: datasets.load_digits(seed=seed),
        RunConfig(
            model="vgg",
            norm="none",
            lr=0.5,
            steps=400,
            batch_size=128,
            probe_every=40,
            hessian_every=200,
            checkpoint_every=100,
            cfg=(16, "M", 32, "M"),
            data="sklearn digits",
        ),
        (
            "none",
            "batchnorm",
            "layernorm",
            "groupnorm",
            "instancenorm",
            "rmsnorm",
            "l1batchnorm",
            "l2batchnorm",
            "linfbatchnorm",
            "noisybatchnorm",
        ),
        (0.5,),
    ),
    "dln": Preset(
        "dln",
        "25-layer deep linear network (10x10), y = Ax, 1000 Gaussian samples, full-batch GD",
        lambda seed, d: datasets.synthetic_regression(1000, dim=10, seed=seed)[0],
        RunConfig(
            model="dln",
            norm="none",
            lr=1e-3,
            steps=300,
            batch_size=None,
            probe_every=30,
            etas=(0.001, 0.002, 0.004, 0.006, 0.008),
            hessian_every=150,
            checkpoint_every=100,
            dtype="float64",
            depth=25,
            data="synthetic_regression(1000, dim=10)",
        ),
        ("none", "batchnorm"),
        (1e-3,),
    ),
    "lr-grid": Preset(
        "lr-grid",
        "scikit-learn digits (8x8), six-conv VGG-style CNN 16-16-M-32-32-M-32-32, batch 128, "
        "SGD for 11 steps at learning rates 0.01 to 100: the relative loss after the first 10 "
        "updates",
        lambda seed, d: datasets.load_digits(seed=seed),
        RunConfig(
            model="vgg",
            norm="none",
            lr=0.1,
            steps=11,
            batch_size=128,
            probe_every=0,
            checkpoint_every=100,
            cfg=(16, 16, "M", 32, 32, "M", 32, 32),
            data="sklearn digits",
        ),
        ("none", "batchnorm"),
        (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0),
    ),
    "sigmoid": Preset(
        "sigmoid",
        "scikit-learn digits (8x8), MLP 100-100-100 with sigmoid units (Ioffe & Szegedy 2015, "
        "Figure 1), batch 60, SGD lr 0.5, 600 steps",
        lambda seed, d: datasets.load_digits(seed=seed),
        RunConfig(
            model="mlp",
            norm="none",
            lr=0.5,
            steps=600,
            batch_size=60,
            probe_every=60,
            checkpoint_every=200,
            hidden=(100, 100, 100),
            activation="sigmoid",
            data="sklearn digits",
        ),
        ("none", "batchnorm"),
        (0.5,),
    ),
    "tanh": Preset(
        "tanh",
        "scikit-learn digits (8x8), MLP 100-100-100 with tanh units, batch 60, SGD lr 0.5, "
        "600 steps",
        lambda seed, d: datasets.load_digits(seed=seed),
        RunConfig(
            model="mlp",
            norm="none",
            lr=0.5,
            steps=600,
            batch_size=60,
            probe_every=60,
            checkpoint_every=200,
            hidden=(100, 100, 100),
            activation="tanh",
            data="sklearn digits",
        ),
        ("none", "batchnorm"),
        (0.5,),
    ),
    "cifar10-vgg": Preset(
        "cifar10-vgg",
        "CIFAR-10 (local copy), VGG-11, batch 128, lr 0.1 and 0.5 (the paper's protocol)",
        _cifar,
        RunConfig(
            model="vgg",
            norm="none",
            lr=0.1,
            steps=2000,
            batch_size=128,
            probe_every=100,
            hessian_every=1000,
            spectrum_every=1000,
            checkpoint_every=200,
            cfg=VGG11,
            data="CIFAR-10",
        ),
        ("none", "batchnorm"),
        (0.1, 0.5),
    ),
    "santurkar2018": Preset(
        "santurkar2018",
        "CIFAR-10 (local copy, or synthetic), VGG-11, batch 128, Glorot initialization, SGD at "
        "lr 0.1 and 0.5, 15000 steps, none / BatchNorm / noisy BatchNorm / l1, l2, linf "
        "BatchNorm (Santurkar et al. 2018)",
        _cifar,
        RunConfig(
            model="vgg",
            norm="none",
            lr=0.1,
            steps=15000,
            batch_size=128,
            probe_every=500,
            hessian_every=5000,
            spectrum_every=5000,
            checkpoint_every=500,
            cfg=VGG11,
            data="CIFAR-10",
        ),
        ("none", "batchnorm", "noisybatchnorm", "l1batchnorm", "l2batchnorm", "linfbatchnorm"),
        (0.1, 0.5),
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name raises, listing the known ones."""
    if name not in PRESETS:
        raise InvalidArgumentError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]
