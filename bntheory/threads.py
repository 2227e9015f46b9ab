"""Thread pools of a process that shares the machine's cores with others.

Worker processes (``bntheory report --jobs N``, the test suite's pytest-xdist workers) each
get a share of the cores.  A process has several pools: torch's, Numba's, and the OpenBLAS
and OpenMP pools of NumPy and SciPy; N processes with all-core pools on the same cores spend
their time in each other's spin-waiting OpenMP threads.
"""

from __future__ import annotations

import contextlib
import os

#: Read by OpenMP and BLAS libraries when they load, and inherited by child processes.
_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def limit_threads(n: int) -> None:
    """At most ``n`` threads in every pool of this process, and in what it loads or starts later.

    The environment variables reach libraries loaded later (scikit-learn brings its own
    ``libgomp``) and child processes.  ``threadpoolctl`` reaches only the libraries already
    loaded, so it comes last: after SciPy's OpenBLAS is loaded and Numba has started its
    threading layer (its OpenMP runtime) by setting its thread count."""
    import scipy.linalg  # noqa: F401  (loads SciPy's own OpenBLAS)
    import torch
    from threadpoolctl import threadpool_limits

    for var in _ENV:
        os.environ[var] = str(n)
    torch.set_num_threads(n)
    try:
        import numba
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    else:
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    threadpool_limits(n)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` torch threads (restored afterwards): a reduction's rounding
    depends on how many threads split it, so a number that must not depend on ``--jobs`` is
    computed with a fixed count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
