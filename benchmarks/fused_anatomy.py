"""Where the time of BatchNorm's fused hvp goes, piece by piece, against the memory floor.

One run times, taking turns over several rounds (so that a change in the machine's load falls
on all of them alike), at one size ``(N, C)`` in float64:

* ``copy``: ``dst.copy_(src)`` of one array, the floor's bandwidth (as in ``closed_forms.py``);
* probes of the output pass's memory traffic, written here and used by no library code:
  ``read 3, write 1`` (``out = x + g + v``: the traffic of the pass with no coefficients) and
  ``3 coefficient rows`` (``out = k0 x + k2 g + k4 v``: uncentered, so not what the library
  may compute, see ``docs/design.md``);
* ``output pass``: the library's fused output pass, ``k0 (x - k1) + k2 (g - k3) + k4 (v - k5)``
  with its six per-channel coefficient rows;
* ``read 3, 1 accumulator``: a statistics-shaped probe, the per-channel sums of ``x + g + v``
  accumulated in one row;
* ``statistics pass``: the library's three-array statistics (two sweeps per block, seven
  accumulator rows, the merge tree);
* ``statistics, output ...``: the two passes back to back, as the kernel runs them, with each
  thread's output rows (those of its statistics blocks) in increasing order and last row
  first, which starts on what its statistics sweep read last (the kernels take the second
  order where the L2 holds a statistics block, ``fused.last_first``);
* ``hvp kernel``: the whole fused call (statistics, coefficients, output pass) into buffers
  allocated once; ``fused.hvp``: the same with the buffers and the result allocated per call;
  ``public hvp``: ``get_layer("batchnorm").hvp`` with its argument checks.

Each row shows microseconds and the ratio to the hvp's floor (4 arrays / copy bandwidth), so
the gap of the public hvp can be read as a sum of the gaps of its parts.  Usage::

    python benchmarks/fused_anatomy.py [--n 1024] [--c 512] [--rounds 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys

import numpy as np
import torch
from torch.utils.benchmark import Timer

from bntheory import get_layer
from bntheory.norms import fused

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - depends on the environment
    njit = None

_OPTS = dict(cache=False, fastmath={"contract"}, error_model="numpy")

if njit is not None:

    @njit(parallel=True, **_OPTS)
    def _read3_write1(out, x, g, v):
        n, c = out.shape
        for r in prange(n):
            for j in range(c):
                out[r, j] = x[r, j] + g[r, j] + v[r, j]

    @njit(parallel=True, **_OPTS)
    def _three_rows(out, x, g, v, k):
        n, c = out.shape
        for r in prange(n):
            for j in range(c):
                out[r, j] = k[0, j] * x[r, j] + k[2, j] * g[r, j] + k[4, j] * v[r, j]

    @njit(parallel=True, **_OPTS)
    def _read3_one_accumulator(acc, x, g, v):
        n, c = x.shape
        parts = acc.shape[0]
        for t in prange(parts):
            a = acc[t]
            a[:] = 0
            for r in range(t * n // parts, (t + 1) * n // parts):
                for j in range(c):
                    a[j] += x[r, j] + g[r, j] + v[r, j]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024, help="samples (default %(default)s)")
    ap.add_argument("--c", type=int, default=512, help="channels (default %(default)s)")
    ap.add_argument(
        "--rounds", type=int, default=5, help="turns the functions take (default %(default)s)"
    )
    ap.add_argument(
        "--min-run-time", type=float, default=0.3, help="seconds per timing (default %(default)s)"
    )
    args = ap.parse_args(argv)
    if args.n < 2 or args.c < 1 or args.rounds < 1 or args.min_run_time <= 0:
        ap.error("need --n >= 2, --c >= 1, --rounds >= 1 and --min-run-time > 0")
    if not fused.ENABLED:
        print("the fused kernels need Numba (not installed or BNTHEORY_FUSED=0)", file=sys.stderr)
        return 2
    n, c = args.n, args.c
    gen = torch.Generator().manual_seed(0)
    x, g, v, src = (torch.randn(n, c, dtype=torch.float64, generator=gen) for _ in range(4))
    weight = torch.randn(c, dtype=torch.float64, generator=gen)
    bias = torch.randn(c, dtype=torch.float64, generator=gen)
    k = torch.randn(6, c, dtype=torch.float64, generator=gen).numpy()
    xs, gs, vs = (t.numpy() for t in (x, g, v))
    dst, out = torch.empty_like(src), np.empty((n, c))
    acc = np.empty((torch.get_num_threads(), c))
    blocks = fused.block_count(n)
    st, coef = np.empty((blocks, 8, c)), np.empty((6, c))
    scratch, lay = fused.scratch_buffer(xs, 7, blocks)
    threads = fused.threads(n)
    order = fused.last_first(3, xs)  # the library's row order on this machine
    bn = get_layer("batchnorm")
    args7 = (None, None, weight, bias, True, 0.1, 1e-5)
    fns = {
        "copy (one array)": lambda: dst.copy_(src),
        "probe: read 3, write 1": lambda: _read3_write1(out, xs, gs, vs),
        "probe: 3 coefficient rows": lambda: _three_rows(out, xs, gs, vs, k),
        "output pass (6 coef. rows)": lambda: fused.combine3(
            out, xs, gs, vs, k, fused.BLOCK_ROWS, threads, order
        ),
        "probe: read 3, 1 accumulator": lambda: _read3_one_accumulator(acc, xs, gs, vs),
        "statistics pass": lambda: fused.stats3(
            xs, gs, vs, st, fused.BLOCK_ROWS, scratch, lay, threads
        ),
        "statistics, output rows forward": lambda: (
            fused.stats3(xs, gs, vs, st, fused.BLOCK_ROWS, scratch, lay, threads),
            fused.combine3(out, xs, gs, vs, k, fused.BLOCK_ROWS, threads, False),
        ),
        "statistics, output last row first": lambda: (
            fused.stats3(xs, gs, vs, st, fused.BLOCK_ROWS, scratch, lay, threads),
            fused.combine3(out, xs, gs, vs, k, fused.BLOCK_ROWS, threads, True),
        ),
        "hvp kernel (buffers reused)": lambda: fused.hvp_into(
            xs,
            gs,
            vs,
            weight.numpy(),
            1e-5,
            st,
            coef,
            out,
            fused.BLOCK_ROWS,
            scratch,
            lay,
            threads,
            order,
        ),
        "fused.hvp (allocates)": lambda: fused.hvp(x, g, v, weight, 1e-5),
        "public hvp": lambda: bn.hvp(x, g, v, *args7),
    }
    status = fused.hvp_into(
        xs,
        gs,
        vs,
        weight.numpy(),
        1e-5,
        st,
        coef,
        out,
        fused.BLOCK_ROWS,
        scratch,
        lay,
        threads,
        order,
    )
    if status != fused.OK:
        raise AssertionError("the fused hvp declined finite inputs")
    if not torch.equal(torch.from_numpy(out), bn.hvp(x, g, v, *args7)):
        raise AssertionError("the kernel with reused buffers and the public hvp differ")
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(args.rounds):
        for name, fn in fns.items():
            fn()  # compiled and warm before it is timed
            timer = Timer("f()", globals={"f": fn}, num_threads=torch.get_num_threads())
            times[name].append(timer.blocked_autorange(min_run_time=args.min_run_time).median)
    t = {name: statistics.median(ts) for name, ts in times.items()}
    nbytes = n * c * 8
    floor = 4 * nbytes / (2 * nbytes / t["copy (one array)"])
    print(
        f"# torch {torch.__version__}, python {platform.python_version()}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}"
    )
    print(
        f"# ({n}, {c}) float64; medians over {args.rounds} rounds; floor = 4 arrays / copy "
        f"bandwidth = {floor * 1e6:.0f} us"
    )
    l2 = "unknown" if fused.L2_BYTES is None else f"{fused.L2_BYTES >> 10} KiB"
    row_order = "last row first" if order else "forward"
    print(f"# L2 per core {l2}: the kernels write each thread's rows {row_order}")
    print(f"{'piece':<34} | {'us':>8} {'/ floor':>8} | {'rounds (us)':<}")
    print("-" * 78)
    for name, ts in times.items():
        rounds = " ".join(f"{s * 1e6:.0f}" for s in ts)
        print(f"{name:<34} | {t[name] * 1e6:>8.0f} {t[name] / floor:>7.2f}x | {rounds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
