"""Where the fused statistics kernels put their accumulators, and what it costs.

The statistics pass of :mod:`bntheory.norms.fused` reads a row of every input and reads and
writes a row of every per-block accumulator in each step.  A load whose address agrees in
its low 12 bits with a store still in flight waits for that store ("4K aliasing"), so an
accumulator that lies just beside an input row modulo 4096 bytes slows the whole pass.  The
kernels take their accumulators from :func:`bntheory.norms.fused.scratch_buffer`, which spaces
them evenly around that ring, away from the inputs' offset.  This script times the
three-array statistics (the hvp's first pass) with that layout and with accumulators placed
at chosen distances from the inputs, side by side in one run::

    python benchmarks/fused_layout.py [--n 1024] [--c 512]
"""

from __future__ import annotations

import argparse
import platform
import sys

import numpy as np
import torch
from torch.utils.benchmark import Timer

from bntheory.norms import fused


def at_offset(scratch_elems: int, offset: int, dtype) -> tuple[np.ndarray, int]:
    """A buffer of ``scratch_elems`` values whose element ``first`` lies at ``offset`` mod 4096."""
    es = np.dtype(dtype).itemsize
    buf = np.empty(scratch_elems + 4096 // es, dtype=dtype)
    return buf, ((offset - buf.ctypes.data) % 4096) // es


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024, help="samples (default %(default)s)")
    ap.add_argument("--c", type=int, default=512, help="channels (default %(default)s)")
    ap.add_argument(
        "--min-run-time", type=float, default=0.5, help="seconds per timing (default %(default)s)"
    )
    args = ap.parse_args(argv)
    if not fused.ENABLED:
        print("the fused kernels need Numba (not installed or BNTHEORY_FUSED=0)", file=sys.stderr)
        return 2
    gen = torch.Generator().manual_seed(0)
    x, g, v = (
        torch.randn(args.n, args.c, dtype=torch.float64, generator=gen).numpy() for _ in range(3)
    )
    blocks = fused.block_count(args.n)
    st = np.empty((blocks, 8, args.c))
    scratch, lay = fused.scratch_buffer(x, 7, blocks)
    threads = fused.threads(args.n)
    offset = x.ctypes.data % 4096
    layouts = {"scratch_buffer (spaced around the ring)": (scratch, lay)}
    for shift in (0, 64, -64, 256, -256):
        # every accumulator at the inputs' offset + shift (mod 4096), as an allocator may place them
        stride = -(-args.c * 8 // 4096) * 4096
        buf, first = at_offset(blocks * 7 * stride // 8, offset + shift, np.float64)
        layouts[f"all at inputs' offset {shift:+d} B"] = (
            buf,
            np.array([first, stride // 8, 7 * stride // 8]),
        )
    print(
        f"# torch {torch.__version__}, python {platform.python_version()}, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"# three-array statistics of ({args.n}, {args.c}) float64; inputs at offset {offset} mod "
        "4096"
    )
    print(f"{'accumulator layout':<40} | {'us':>8} {'vs scratch_buffer':>17}")
    print("-" * 70)
    ref = None
    times = {}
    for name, (buf, lay_) in layouts.items():
        fused.stats3(x, g, v, st, fused.BLOCK_ROWS, buf, lay_, threads)
        stats = st[0].copy()
        if ref is None:
            ref = stats
        assert np.array_equal(stats, ref), "the layout changed the statistics"

        def stats(buf=buf, lay_=lay_):
            fused.stats3(x, g, v, st, fused.BLOCK_ROWS, buf, lay_, threads)

        timer = Timer("f()", globals={"f": stats})
        times[name] = timer.blocked_autorange(min_run_time=args.min_run_time).median
    base = times["scratch_buffer (spaced around the ring)"]
    for name, t in times.items():
        print(f"{name:<40} | {t * 1e6:>8.0f} {t / base:>16.2f}x")
    print("the statistics are bit-identical in every layout (checked above); only the time differs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
