"""Test harness: ``--device``, the ``gpu`` marker, and the Hypothesis profiles.

* ``--device cpu`` (default) or ``--device cuda``: the device every ``device`` fixture gives,
  so the whole suite runs on a GPU unchanged.  Verification is float64 on every device.
* ``@pytest.mark.gpu``: the test needs CUDA; it is skipped, with the reason, when no CUDA
  device exists.
* Hypothesis profiles ``ci`` (the default, quick) and ``thorough`` (many examples), chosen
  with ``--hypothesis-profile``.  Torch tests have no deadline: the first call of a torch
  op is slow and timing is not what they test.
* Under ``pytest -n N`` (pytest-xdist; ``make test`` runs one worker per core, whole files per
  worker) each worker gets its share of the cores in every thread pool (torch, Numba,
  OpenBLAS/OpenMP): N workers of all-core pools on the same cores spend their time in each
  other's spin-waiting OpenMP threads.
"""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

from bntheory.threads import available_cores, limit_threads

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        default="cpu",
        choices=("cpu", "cuda"),
        help="device the tests run on (default cpu); float64 on every device",
    )


def _share_the_cores_between_workers() -> None:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        limit_threads(max(1, available_cores() // workers))


def pytest_configure(config: pytest.Config) -> None:
    _share_the_cores_between_workers()
    if config.getoption("hypothesis_profile", None) is None:
        settings.load_profile("ci")
    if config.getoption("--device") == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError(
            "--device cuda was given but torch.cuda.is_available() is False on this machine"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(
        reason=f"no CUDA device (torch {torch.__version__}, cuda available: False)"
    )
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    """The device chosen with ``--device``."""
    return torch.device(request.config.getoption("--device"))
