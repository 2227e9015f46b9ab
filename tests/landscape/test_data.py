"""The landscape data sets: digits, synthetic data, and a local CIFAR-10 (a tiny fake one here)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from bntheory.errors import DataError
from bntheory.landscape.data import (
    CIFAR10_TEST_FILE,
    CIFAR10_TRAIN_FILES,
    Dataset,
    load_cifar10,
    load_digits,
    synthetic_classification,
    synthetic_regression,
)

PER_BATCH = 6


# ------------------------------------------------------------------------------------------
# digits


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits(seed=0)


def test_digits_shapes_and_labels(digits):
    assert digits.input_shape == (1, 8, 8)
    assert digits.num_classes == 10
    n_test = round(1797 * 0.25)
    assert digits.x_train.shape == (1797 - n_test, 1, 8, 8)
    assert digits.x_test.shape == (n_test, 1, 8, 8)
    assert digits.x_train.dtype == torch.float32
    assert digits.y_train.dtype == digits.y_test.dtype == torch.int64
    labels = torch.cat([digits.y_train, digits.y_test])
    assert labels.min() == 0 and labels.max() == 9
    assert torch.isfinite(digits.x_train).all() and torch.isfinite(digits.x_test).all()


def test_digits_standardised_with_train_statistics(digits):
    x = digits.x_train.double()
    assert x.mean(0).abs().max() < 1e-5
    std = x.std(0, unbiased=False)
    # every pixel has unit std, except constant pixels, which are all zero after centring
    assert torch.all(((std - 1).abs() < 1e-4) | (std < 1e-6))
    assert (std < 1e-6).any()  # the digits have constant border pixels: the floor is exercised


def test_digits_seeded_split():
    a, b, c = load_digits(seed=3), load_digits(seed=3), load_digits(seed=4)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)
    d = load_digits(seed=3, test_fraction=0.5, dtype=torch.float64)
    assert d.x_train.dtype == torch.float64 and d.x_test.shape[0] == round(1797 * 0.5)


def test_dataset_to_casts_inputs_but_not_labels(digits):
    moved = digits.to("cpu", torch.float64)
    assert moved.x_train.dtype == moved.x_test.dtype == torch.float64
    assert moved.y_train.dtype == torch.int64
    assert moved.input_shape == digits.input_shape and moved.name == "digits"
    reg, _ = synthetic_regression(8, dim=3)
    assert reg.to("cpu", torch.float32).y_train.dtype == torch.float32


# ------------------------------------------------------------------------------------------
# synthetic


def test_synthetic_regression_targets_and_seed():
    data, a = synthetic_regression(50, dim=7, seed=1, test_n=20)
    assert a.shape == (7, 7) and data.num_classes is None
    assert data.x_train.shape == (50, 7) and data.x_test.shape == (20, 7)
    assert data.x_train.dtype == torch.float64
    assert torch.equal(data.y_train, data.x_train @ a.T)
    assert torch.equal(data.y_test, data.x_test @ a.T)
    again, a2 = synthetic_regression(50, dim=7, seed=1, test_n=20)
    assert torch.equal(a, a2) and torch.equal(data.x_train, again.x_train)
    other, a3 = synthetic_regression(50, dim=7, seed=2, test_n=20)
    assert not torch.equal(a, a3) and not torch.equal(data.x_train, other.x_train)
    default, _ = synthetic_regression(12, dim=3)
    assert default.x_test.shape == (12, 3)


def test_synthetic_classification_shapes_and_labels():
    data = synthetic_classification(40, dim=5, classes=3, seed=0)
    assert data.x_train.shape == (40, 5) and data.x_test.shape == (10, 5)
    assert data.num_classes == 3 and data.y_train.dtype == torch.int64
    assert set(data.y_train.tolist()) == {0, 1, 2} and set(data.y_test.tolist()) <= {0, 1, 2}
    assert synthetic_classification(4, classes=4).x_test.shape[0] == 4  # at least `classes`
    same = synthetic_classification(40, dim=5, classes=3, seed=0)
    assert torch.equal(data.x_train, same.x_train) and torch.equal(data.y_test, same.y_test)


# ------------------------------------------------------------------------------------------
# CIFAR-10 (a fake directory in the standard layout)


def _batch(seed: int, n: int = PER_BATCH) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"fake batch",
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        b"labels": [int(v) for v in rng.integers(0, 10, size=n)],
        b"filenames": [b"img%d.png" % i for i in range(n)],
    }


def _write(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def write_fake_cifar10(directory: Path) -> dict[str, dict]:
    """Five train batches and a test batch of ``PER_BATCH`` random images each."""
    directory.mkdir(parents=True, exist_ok=True)
    batches = {}
    for i, name in enumerate(CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,)):
        batches[name] = _batch(i)
        _write(directory / name, batches[name])
    return batches


def test_cifar10_loads_fake_directory(tmp_path):
    batches = write_fake_cifar10(tmp_path / "cifar")
    data = load_cifar10(tmp_path / "cifar")
    assert data.x_train.shape == (30, 3, 32, 32) and data.x_test.shape == (6, 3, 32, 32)
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    want_train = sum((batches[n][b"labels"] for n in CIFAR10_TRAIN_FILES), [])
    assert data.y_train.tolist() == want_train
    assert data.y_test.tolist() == batches[CIFAR10_TEST_FILE][b"labels"]
    x = data.x_train.double()
    assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert (x.std(dim=(0, 2, 3), unbiased=False) - 1).abs().max() < 1e-5
    # the layout: row-major, channel-first; standardisation is a per-channel affine map
    raw = np.concatenate([batches[n][b"data"] for n in CIFAR10_TRAIN_FILES]).reshape(30, 3, 32, 32)
    raw = torch.from_numpy(raw).double() / 255
    mean = raw.mean(dim=(0, 2, 3), keepdim=True)
    std = raw.std(dim=(0, 2, 3), unbiased=False, keepdim=True)
    torch.testing.assert_close(x, (raw - mean) / std, atol=1e-5, rtol=0)
    test_raw = (
        torch.from_numpy(batches[CIFAR10_TEST_FILE][b"data"].reshape(6, 3, 32, 32)).double() / 255
    )
    torch.testing.assert_close(data.x_test.double(), (test_raw - mean) / std, atol=1e-5, rtol=0)


def test_cifar10_limit_and_dtype(tmp_path):
    batches = write_fake_cifar10(tmp_path)
    data = load_cifar10(str(tmp_path), dtype=torch.float64, limit=4)
    assert data.x_train.shape == (4, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    assert data.x_train.dtype == torch.float64
    assert data.y_train.tolist() == batches[CIFAR10_TRAIN_FILES[0]][b"labels"][:4]
    assert data.y_test.tolist() == batches[CIFAR10_TEST_FILE][b"labels"][:4]
    assert load_cifar10(tmp_path, limit=100).x_train.shape[0] == 30  # more than there is


def test_cifar10_missing_directory(tmp_path):
    with pytest.raises(DataError, match=r"does not exist"):
        load_cifar10(tmp_path / "nowhere")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(DataError, match=r"not a directory"):
        load_cifar10(tmp_path / "file")


def test_cifar10_missing_batch_file(tmp_path):
    write_fake_cifar10(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DataError, match=r"missing data_batch_3;.*expected the standard") as info:
        load_cifar10(tmp_path)
    named = str(info.value).split(";")[0]  # before the description of the layout
    assert str(tmp_path) in named and "data_batch_1" not in named
    (tmp_path / "test_batch").unlink()
    with pytest.raises(DataError, match=r"missing data_batch_3, test_batch"):
        load_cifar10(tmp_path)


def test_cifar10_corrupt_file(tmp_path):
    write_fake_cifar10(tmp_path)
    (tmp_path / "data_batch_2").write_bytes(b"this is not a pickle at all")
    with pytest.raises(DataError, match=r"data_batch_2 is not a readable pickle"):
        load_cifar10(tmp_path)
    _write(tmp_path / "data_batch_2", [1, 2, 3])
    with pytest.raises(DataError, match=r"data_batch_2 holds a list, not a dict"):
        load_cifar10(tmp_path)


def _corrupt(tmp_path: Path, name: str, **changes) -> None:
    write_fake_cifar10(tmp_path)
    batch = _batch(99)
    for key, value in changes.items():
        if value is None:
            del batch[key.encode()]
        else:
            batch[key.encode()] = value
    _write(tmp_path / name, batch)


def test_cifar10_missing_labels_key(tmp_path):
    _corrupt(tmp_path, "data_batch_4", labels=None)
    with pytest.raises(DataError, match=r"data_batch_4 lacks the key\(s\) b'labels'"):
        load_cifar10(tmp_path)


def test_cifar10_wrong_width(tmp_path):
    _corrupt(tmp_path, "test_batch", data=np.zeros((PER_BATCH, 100), dtype=np.uint8))
    with pytest.raises(
        DataError, match=r"test_batch: b'data' must have shape \(N, 3072\).*\(6, 100\)"
    ):
        load_cifar10(tmp_path)


def test_cifar10_wrong_dtype(tmp_path):
    _corrupt(tmp_path, "data_batch_1", data=np.zeros((PER_BATCH, 3072), dtype=np.float32))
    with pytest.raises(DataError, match=r"data_batch_1: b'data' must be a uint8 numpy array"):
        load_cifar10(tmp_path)


def test_cifar10_labels_length_mismatch(tmp_path):
    _corrupt(tmp_path, "data_batch_5", labels=[0] * (PER_BATCH - 1))
    with pytest.raises(DataError, match=r"data_batch_5: 5 labels for 6 images"):
        load_cifar10(tmp_path)


def test_cifar10_label_out_of_range(tmp_path):
    _corrupt(tmp_path, "data_batch_1", labels=[0, 1, 2, 10, 4, 5])
    with pytest.raises(
        DataError, match=r"data_batch_1: labels must lie in 0\.\.9, found 10 at index 3"
    ):
        load_cifar10(tmp_path)
