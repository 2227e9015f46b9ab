"""The test harness itself: under pytest-xdist each worker runs on its share of the cores."""

from __future__ import annotations

import os

import pytest
import torch

from bntheory.threads import available_cores


def test_each_worker_has_its_share_of_the_cores_in_every_pool():
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1:
        pytest.skip("not running under pytest -n N (pytest-xdist) with N >= 2")
    from threadpoolctl import threadpool_info

    share = max(1, available_cores() // workers)
    assert torch.get_num_threads() == share
    try:
        import numba
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    else:
        assert numba.get_num_threads() == min(share, numba.config.NUMBA_NUM_THREADS)
    import sklearn.datasets  # noqa: F401  (loaded after the limits: its own libgomp reads OMP_NUM_THREADS)

    pools = threadpool_info()
    assert pools and all(p["num_threads"] <= share for p in pools), pools
