"""Worker processes on this machine: a spawned pool whose workers run one thread each.

Shared by the report's verdicts (:mod:`bntheory.pipeline`) and the local backend of the sweep
engine (:mod:`bntheory.landscape.sweep`).  Workers are spawned, not forked: a fork of a
process whose OpenMP threads exist may hang.  Each worker runs one thread in every pool it
has (:func:`bntheory.threads.limit_threads`), so ``jobs`` workers share the cores instead of
spin-waiting on each other's threads, and a result does not depend on how many workers
computed it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable


def one_thread() -> None:
    """Initializer of a worker process: one thread in every pool it has."""
    from bntheory.threads import limit_threads

    limit_threads(1)


def process_pool(jobs: int):
    """A ``concurrent.futures`` pool of ``jobs`` spawned one-thread worker processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=one_thread
    )


def terminate(pool) -> None:
    """Stop a :func:`process_pool` at once, killing the jobs it is running (an error elsewhere
    must not wait hours for them).  ``ProcessPoolExecutor.terminate_workers`` does it from
    Python 3.14; before, the executor's ``_processes`` table is the only handle on them."""
    kill = getattr(pool, "terminate_workers", None)
    if kill is not None:
        kill()
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def workers(jobs: int):
    """:func:`process_pool` as a context manager; ``None`` (work in this process) for
    ``jobs <= 1``."""
    if jobs <= 1:
        return contextlib.nullcontext(None)
    return process_pool(jobs)


def run_all(fn, items: list, pool, progress: Callable[..., Iterable], desc: str, unit: str) -> list:
    """``[fn(item) for item in items]`` with a progress bar, in ``pool`` when there is one
    (results in the order of ``items``; a failed job stops the run at once)."""
    if pool is None:
        return [fn(item) for item in progress(items, desc, unit)]
    from concurrent.futures import as_completed

    futures = [pool.submit(fn, item) for item in items]
    try:
        for done in progress(as_completed(futures), desc, unit):
            done.result()
    except BaseException:  # an error or Ctrl-C: drop the jobs not yet started
        for f in futures:
            f.cancel()
        raise
    return [f.result() for f in futures]
