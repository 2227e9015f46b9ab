"""Data sets for the landscape experiments; nothing here is ever downloaded.

* :func:`load_digits`: scikit-learn's bundled 8x8 digits (1797 images, 10 classes), a seeded
  train/test split, standardised per pixel with the train set's statistics.
* :func:`synthetic_regression`: the paper's deep-linear-network data, ``x ~ N(0, I)`` and
  targets ``y = x @ A.T`` for a random Gaussian matrix ``A``.
* :func:`synthetic_classification`: Gaussian blobs, for fast smoke runs.
* :func:`load_cifar10`: CIFAR-10 read from a local directory in the standard python-pickle
  layout (``data_batch_1`` ... ``data_batch_5``, ``test_batch``), standardised per channel with
  the train set's statistics.  A missing or malformed directory raises
  :class:`~bntheory.errors.DataError` naming the path; the files are never fetched.

Every loader returns a :class:`Dataset`: inputs are floating tensors, classification labels are
``int64``, and regression targets have the inputs' dtype (``num_classes`` is ``None``).
Standard deviations are population ones (divide by ``N``), floored at ``1e-6`` so a constant
pixel or channel does not divide by zero.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bntheory.errors import DataError, InvalidArgumentError

__all__ = [
    "Dataset",
    "load_digits",
    "synthetic_regression",
    "synthetic_classification",
    "load_cifar10",
    "CIFAR10_TRAIN_FILES",
    "CIFAR10_TEST_FILE",
]

#: Floor of every standard deviation used to standardise inputs.
STD_FLOOR = 1e-6

CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
_CIFAR10_WIDTH = 3 * 32 * 32
_CIFAR10_CLASSES = 10


@dataclass
class Dataset:
    """A train/test split: inputs ``x_*`` (one sample per row) and labels or targets ``y_*``.

    ``num_classes`` is the number of classes (labels ``int64`` in ``0..num_classes-1``), or
    ``None`` for regression (targets are floating, with the inputs' dtype).
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int | None

    def __post_init__(self) -> None:
        for split, x, y in (
            ("train", self.x_train, self.y_train),
            ("test", self.x_test, self.y_test),
        ):
            if x.shape[0] != y.shape[0]:
                raise DataError(
                    f"data set {self.name!r}: {split} split has {x.shape[0]} inputs but "
                    f"{y.shape[0]} labels/targets"
                )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"data set {self.name!r}: train samples have shape {tuple(self.x_train.shape[1:])} "
                f"but test samples {tuple(self.x_test.shape[1:])}"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, e.g. ``(1, 8, 8)`` for digits."""
        return tuple(self.x_train.shape[1:])

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Dataset:
        """A new Dataset on ``device`` with inputs cast to the floating ``dtype``.

        Integer labels stay ``int64`` and only move; regression targets are cast too.
        ``None`` keeps the current device or dtype.
        """
        if dtype is not None and not dtype.is_floating_point:
            raise InvalidArgumentError(f"dtype must be a floating dtype, got dtype={dtype}")

        def x_to(t: Tensor) -> Tensor:
            return t.to(device=device, dtype=dtype)

        def y_to(t: Tensor) -> Tensor:
            if self.num_classes is None:
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)

        return Dataset(
            name=self.name,
            x_train=x_to(self.x_train),
            y_train=y_to(self.y_train),
            x_test=x_to(self.x_test),
            y_test=y_to(self.y_test),
            num_classes=self.num_classes,
        )


def _check_float_dtype(dtype: torch.dtype) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InvalidArgumentError(f"dtype must be a floating torch dtype, got dtype={dtype!r}")


def _check_positive_int(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")


# --------------------------------------------------------------------------------------------
# digits


def load_digits(
    seed: int = 0, test_fraction: float = 0.25, dtype: torch.dtype = torch.float32
) -> Dataset:
    """scikit-learn's bundled digits as images ``(N, 1, 8, 8)``, 10 classes.

    The split is a seeded permutation (``numpy.random.default_rng(seed)``) with
    ``round(1797 * test_fraction)`` test images; every pixel is standardised with the train
    set's mean and std (floored at ``1e-6``: some border pixels are constant).
    """
    _check_float_dtype(dtype)
    if not isinstance(test_fraction, (int, float)) or not 0.0 < test_fraction < 1.0:
        raise InvalidArgumentError(
            f"test_fraction must lie in (0, 1), got test_fraction={test_fraction!r}"
        )
    from sklearn.datasets import load_digits as _sk_load_digits  # bundled with scikit-learn

    bunch = _sk_load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)[:, None, :, :]  # (N, 1, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    n = images.shape[0]
    n_test = int(round(n * test_fraction))
    if not 1 <= n_test <= n - 2:
        raise InvalidArgumentError(
            f"test_fraction={test_fraction!r} leaves {n_test} test and {n - n_test} train images "
            f"of {n}; need at least 1 and 2"
        )
    perm = np.random.default_rng(seed).permutation(n)
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    x_train, x_test = images[train_idx], images[test_idx]
    mean = x_train.mean(axis=0, keepdims=True)
    std = np.maximum(x_train.std(axis=0, keepdims=True), STD_FLOOR)
    x_train = (x_train - mean) / std
    x_test = (x_test - mean) / std
    return Dataset(
        name="digits",
        x_train=torch.from_numpy(x_train).to(dtype),
        y_train=torch.from_numpy(labels[train_idx]),
        x_test=torch.from_numpy(x_test).to(dtype),
        y_test=torch.from_numpy(labels[test_idx]),
        num_classes=10,
    )


# --------------------------------------------------------------------------------------------
# synthetic


def synthetic_regression(
    n: int,
    dim: int = 10,
    seed: int = 0,
    test_n: int | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[Dataset, Tensor]:
    """The deep-linear-network data: ``x ~ N(0, I_dim)``, ``y = x @ A.T``; returns ``(data, A)``.

    ``A`` (``dim x dim``, standard Gaussian entries) is drawn first, then ``n`` train rows and
    ``test_n`` (default ``n``) test rows, all from one ``torch.Generator`` seeded with ``seed``;
    so ``A`` depends on ``seed`` and ``dim`` only.  Draws are float64, cast to ``dtype``, and the
    targets are computed in ``dtype`` from the cast tensors (``y == x @ A.T`` exactly).
    """
    _check_float_dtype(dtype)
    _check_positive_int("n", n)
    _check_positive_int("dim", dim)
    test_n = n if test_n is None else test_n
    _check_positive_int("test_n", test_n)
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(dim, dim, generator=gen, dtype=torch.float64).to(dtype)
    x_train = torch.randn(n, dim, generator=gen, dtype=torch.float64).to(dtype)
    x_test = torch.randn(test_n, dim, generator=gen, dtype=torch.float64).to(dtype)
    data = Dataset(
        name="synthetic_regression",
        x_train=x_train,
        y_train=x_train @ a.T,
        x_test=x_test,
        y_test=x_test @ a.T,
        num_classes=None,
    )
    return data, a


def synthetic_classification(
    n: int,
    dim: int = 16,
    classes: int = 4,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """Gaussian blobs: class means ``~ N(0, 2^2 I)``, unit noise.

    ``n`` train and ``max(n//4, classes)`` test samples.  Labels are balanced
    (``i % classes``, then shuffled), ``int64``; seeded by ``torch.Generator``.
    """
    _check_float_dtype(dtype)
    _check_positive_int("n", n)
    _check_positive_int("dim", dim)
    _check_positive_int("classes", classes, minimum=2)
    gen = torch.Generator().manual_seed(seed)
    means = 2.0 * torch.randn(classes, dim, generator=gen, dtype=torch.float64)

    def split(count: int) -> tuple[Tensor, Tensor]:
        labels = (torch.arange(count) % classes)[torch.randperm(count, generator=gen)]
        noise = torch.randn(count, dim, generator=gen, dtype=torch.float64)
        return (means[labels] + noise).to(dtype), labels.to(torch.int64)

    x_train, y_train = split(n)
    x_test, y_test = split(max(n // 4, classes))
    return Dataset(
        name="synthetic_classification",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=classes,
    )


def synthetic_images(
    n: int = 2048,
    shape: tuple[int, int, int] = (3, 32, 32),
    classes: int = 10,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """CIFAR-shaped synthetic images for smoke runs of the image presets (nothing is read).

    Each class has a smooth random template (Gaussian noise averaged over 4x4 blocks and
    upsampled); a sample is its class's template plus unit Gaussian pixel noise, standardized
    per channel with the train split's statistics.  ``n`` train and ``max(n // 4, classes)``
    test samples, balanced labels, seeded by ``torch.Generator``.
    """
    _check_float_dtype(dtype)
    _check_positive_int("n", n)
    _check_positive_int("classes", classes, minimum=2)
    c, h, w = shape
    if h % 4 or w % 4:
        raise DataError(f"synthetic images need a height and width divisible by 4, got {shape}")
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randn(classes, c, h // 4, w // 4, generator=gen, dtype=torch.float64)
    templates = coarse.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)

    def split(count: int) -> tuple[Tensor, Tensor]:
        labels = (torch.arange(count) % classes)[torch.randperm(count, generator=gen)]
        noise = torch.randn(count, c, h, w, generator=gen, dtype=torch.float64)
        return templates[labels] + noise, labels.to(torch.int64)

    x_train, y_train = split(n)
    x_test, y_test = split(max(n // 4, classes))
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True)
    return Dataset(
        name="synthetic_images",
        x_train=((x_train - mean) / std).to(dtype),
        y_train=y_train,
        x_test=((x_test - mean) / std).to(dtype),
        y_test=y_test,
        num_classes=classes,
    )


# --------------------------------------------------------------------------------------------
# CIFAR-10


_CIFAR10_LAYOUT = (
    "expected the standard CIFAR-10 python layout (the extracted cifar-10-python.tar.gz): "
    + ", ".join(CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,))
    + ", each a pickled dict with keys b'data' (uint8, N x 3072) and b'labels' (N ints in 0..9)"
)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: ``(data uint8 (N, 3072), labels int64 (N,))``, validated."""
    try:
        with open(path, "rb") as f:
            # pickle can run code: only point this at a CIFAR-10 copy you trust
            batch = pickle.load(f, encoding="bytes")
    except OSError as exc:
        raise DataError(f"cannot read CIFAR-10 file {path}: {exc}") from exc
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, ... from a corrupt file
        raise DataError(
            f"CIFAR-10 file {path} is not a readable pickle ({type(exc).__name__}: {exc}); "
            f"{_CIFAR10_LAYOUT}"
        ) from exc
    if not isinstance(batch, dict):
        raise DataError(
            f"CIFAR-10 file {path} holds a {type(batch).__name__}, not a dict; {_CIFAR10_LAYOUT}"
        )
    missing = [key for key in (b"data", b"labels") if key not in batch]
    if missing:
        raise DataError(
            f"CIFAR-10 file {path} lacks the key(s) {', '.join(repr(k) for k in missing)} "
            f"(has {sorted(map(repr, batch))}); {_CIFAR10_LAYOUT}"
        )
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        kind = (
            f"array of dtype {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
        )
        raise DataError(f"CIFAR-10 file {path}: b'data' must be a uint8 numpy array, got a {kind}")
    if data.ndim != 2 or data.shape[1] != _CIFAR10_WIDTH or data.shape[0] == 0:
        raise DataError(
            f"CIFAR-10 file {path}: b'data' must have shape (N, {_CIFAR10_WIDTH}) with N >= 1 "
            f"(3x32x32 images, channel-first), got shape {data.shape}"
        )
    try:
        labels = np.asarray(batch[b"labels"])
    except Exception as exc:
        raise DataError(f"CIFAR-10 file {path}: b'labels' is not a list of ints ({exc})") from exc
    if labels.ndim != 1 or labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"CIFAR-10 file {path}: b'labels' must be a flat list of ints, got "
            f"dtype {labels.dtype} and shape {labels.shape}"
        )
    if labels.shape[0] != data.shape[0]:
        raise DataError(
            f"CIFAR-10 file {path}: {labels.shape[0]} labels for {data.shape[0]} images in b'data'"
        )
    bad = (labels < 0) | (labels >= _CIFAR10_CLASSES)
    if bad.any():
        raise DataError(
            f"CIFAR-10 file {path}: labels must lie in 0..{_CIFAR10_CLASSES - 1}, found "
            f"{int(labels[bad][0])} at index {int(np.flatnonzero(bad)[0])}"
        )
    return data, labels.astype(np.int64)


def _channel_stats(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel mean and population std of uint8 images ``(N, 3072)``.

    Both are in [0, 255] units, computed from the channel's histogram of byte values.
    """
    values = np.arange(256, dtype=np.float64)
    means, stds = [], []
    for c in range(3):
        counts = np.bincount(data[:, c * 1024 : (c + 1) * 1024].ravel(), minlength=256).astype(
            np.float64
        )
        total = counts.sum()
        mean = (values * counts).sum() / total
        var = (((values - mean) ** 2) * counts).sum() / total
        means.append(mean)
        stds.append(np.sqrt(var))
    return np.asarray(means), np.asarray(stds)


def load_cifar10(
    directory: str | Path,
    dtype: torch.dtype = torch.float32,
    limit: int | None = None,
) -> Dataset:
    """CIFAR-10 from ``directory`` (standard python-pickle layout); never downloads.

    Inputs are ``(N, 3, 32, 32)``, scaled to [0, 1] and standardised with the train set's
    per-channel mean and std; labels ``int64``.  ``limit`` keeps the first ``limit`` train and
    the first ``limit`` test samples (every file is still read and validated); the statistics
    are those of the kept train samples.  Anything missing or malformed raises
    :class:`~bntheory.errors.DataError` naming the path.
    """
    _check_float_dtype(dtype)
    if limit is not None:
        _check_positive_int("limit", limit)
    root = Path(directory).expanduser()
    if not root.exists():
        raise DataError(
            f"CIFAR-10 directory {root} does not exist (nothing is downloaded); {_CIFAR10_LAYOUT}"
        )
    if not root.is_dir():
        raise DataError(f"CIFAR-10 path {root} is not a directory; {_CIFAR10_LAYOUT}")
    names = CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,)
    missing = [name for name in names if not (root / name).is_file()]
    if missing:
        raise DataError(
            f"CIFAR-10 directory {root} is missing {', '.join(missing)}; {_CIFAR10_LAYOUT}"
        )
    train = [_read_cifar_batch(root / name) for name in CIFAR10_TRAIN_FILES]
    test_data, test_labels = _read_cifar_batch(root / CIFAR10_TEST_FILE)
    train_data = np.concatenate([d for d, _ in train])
    train_labels = np.concatenate([y for _, y in train])
    if limit is not None:
        train_data, train_labels = train_data[:limit], train_labels[:limit]
        test_data, test_labels = test_data[:limit], test_labels[:limit]
    mean, std = _channel_stats(train_data)
    mean, std = mean / 255.0, np.maximum(std / 255.0, STD_FLOOR)
    mean_t = torch.as_tensor(mean, dtype=dtype).view(1, 3, 1, 1)
    std_t = torch.as_tensor(std, dtype=dtype).view(1, 3, 1, 1)

    def images(data: np.ndarray) -> Tensor:
        x = torch.from_numpy(np.ascontiguousarray(data)).to(dtype).view(-1, 3, 32, 32)
        return x.div_(255.0).sub_(mean_t).div_(std_t)

    return Dataset(
        name="cifar10",
        x_train=images(train_data),
        y_train=torch.from_numpy(train_labels),
        x_test=images(test_data),
        y_test=torch.from_numpy(test_labels),
        num_classes=_CIFAR10_CLASSES,
    )
