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


ALIGNMENT = """
import os, sys
if sys.argv[1] == "bntheory":
    import bntheory  # noqa: F401
else:
    os.environ.pop("MKL_CBWR", None)
import torch

torch.manual_seed(0)
results = set()
for n in (3, 10, 1000, 4097):
    base = torch.randn(n, dtype=torch.float64)
    values = set()
    for off in range(8):  # the same numbers at eight memory alignments
        a = torch.empty(n + off, dtype=torch.float64)[off:].copy_(base)
        b = torch.empty(n + off, dtype=torch.float64)[off:].copy_(base.flip(0))
        m = torch.empty(8 * n + off, dtype=torch.float64)[off:].view(8, n)
        m.copy_(torch.outer(torch.arange(8.0, dtype=torch.float64) + 0.1, base).sin())
        values.add(((a @ b).item(), tuple((m @ b).tolist())))
    results.add(len(values))
print(max(results))
"""


def test_products_do_not_depend_on_the_memory_alignment_of_their_operands():
    """``import bntheory`` makes torch's CPU BLAS round independently of where the operands
    lie in memory, so a number is the same in every process; without it Intel MKL's dot and
    matrix-vector products differ at the last bit (shown first, where torch uses MKL)."""
    import subprocess
    import sys

    def distinct(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", ALIGNMENT, mode], capture_output=True, text=True, check=True
        )
        return int(out.stdout.strip())

    if torch.backends.mkl.is_available():
        assert distinct("plain") > 1  # the problem this guards against is real here
    assert distinct("bntheory") == 1
