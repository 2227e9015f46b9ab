"""BatchNorm's three-array statistics pass in C (gcc/clang, OpenMP) against the library's
Numba pass.

The fused HVP (``bntheory.norms.fused``) spends most of its time in the statistics pass.
This script asks whether code outside Numba would be faster.  It compiles two C versions of
that pass with the system's C compiler (``-O3 -march=native``, OpenMP), checks that their
merged statistics agree with the library's, and times them side by side with the library's
``stats3`` in one run, taking turns over several rounds:

* ``C, rows``: the library's algorithm as written there (blocks of samples, two sweeps per
  block over whole rows, seven accumulator rows placed by ``fused.scratch_buffer``, the same
  pairwise merge), compiled by the C compiler instead of Numba's LLVM;
* ``C, 8-channel strips``: the same statistics with the accumulators in registers: each
  block is swept strip by strip, eight channels (one cache line) at a time, down its rows,
  using GCC vector extensions.  It reads each row of a strip 4 KB after the previous one.

Nothing here is used by the library.  Usage::

    python benchmarks/c_statistics.py [--n 1024] [--c 512] [--rounds 5] [--cc cc]

Exits with status 2 when there is no C compiler or no Numba.
"""

from __future__ import annotations

import argparse
import ctypes
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.benchmark import Timer

from bntheory.norms import fused

SOURCE = r"""
#include <stddef.h>
typedef double v4 __attribute__((vector_size(32), aligned(8)));
#define LD(p) (*(const v4 *)(p))

/* st[b][8][C]: count, means of x, g, v, then Mxx, Mxv, Mxg, Mgv (as fused.stats3) */
static void merge(double *si, const double *sj, long C)
{
    static const int P[4][2] = {{0, 0}, {0, 2}, {0, 1}, {1, 2}};
    for (long c = 0; c < C; c++) {
        double n = si[c] + sj[c], f = sj[c] / n, w = si[c] * f, d[3];
        for (int p = 0; p < 3; p++) d[p] = sj[(p + 1) * C + c] - si[(p + 1) * C + c];
        for (int q = 0; q < 4; q++)
            si[(4 + q) * C + c] += sj[(4 + q) * C + c] + d[P[q][0]] * d[P[q][1]] * w;
        for (int p = 0; p < 3; p++) si[(p + 1) * C + c] += d[p] * f;
        si[c] = n;
    }
}

static void tree(double *st, long nb, long C)
{
    for (long step = 1; step < nb; step *= 2)
        for (long i = 0; i + step < nb; i += 2 * step)
            merge(st + i * 8 * C, st + (i + step) * 8 * C, C);
}

/* One block's two sweeps over whole rows (restrict parameters: gcc vectorizes the loops). */
static void sweeps(const double *restrict x, const double *restrict g, const double *restrict v,
                   long r0, long r1, long C, double *restrict mx, double *restrict mg,
                   double *restrict mv, double *restrict sxx, double *restrict sxv,
                   double *restrict sxg, double *restrict sgv)
{
    double n = (double)(r1 - r0);
    for (long c = 0; c < C; c++) { mx[c] = mg[c] = mv[c] = sxx[c] = sxv[c] = sxg[c] = sgv[c] = 0; }
    for (long r = r0; r < r1; r++)
        for (long c = 0; c < C; c++) {
            mx[c] += x[r * C + c]; mg[c] += g[r * C + c]; mv[c] += v[r * C + c];
        }
    for (long c = 0; c < C; c++) { mx[c] /= n; mg[c] /= n; mv[c] /= n; }
    for (long r = r0; r < r1; r++)
        for (long c = 0; c < C; c++) {
            double dx = x[r * C + c] - mx[c], dg = g[r * C + c] - mg[c], dv = v[r * C + c] - mv[c];
            sxx[c] += dx * dx; sxv[c] += dx * dv; sxg[c] += dx * dg; sgv[c] += dg * dv;
        }
}

/* The library's algorithm: two sweeps over whole rows, accumulators in the scratch layout. */
void stats_rows(const double *x, const double *g, const double *v, long N, long C, long rows,
                double *st, double *scratch, const long *lay)
{
    long nb = (N + rows - 1) / rows;
    #pragma omp parallel for schedule(static)
    for (long b = 0; b < nb; b++) {
        long r0 = b * rows, r1 = r0 + rows < N ? r0 + rows : N;
        double *acc[7];
        for (int i = 0; i < 7; i++) acc[i] = scratch + lay[0] + b * lay[2] + i * lay[1];
        sweeps(x, g, v, r0, r1, C, acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6]);
        double *S = st + b * 8 * C;
        for (long c = 0; c < C; c++) S[c] = (double)(r1 - r0);
        for (int i = 0; i < 7; i++)
            for (long c = 0; c < C; c++) S[(i + 1) * C + c] = acc[i][c];
    }
    tree(st, nb, C);
}

/* The same statistics with register accumulators, 8 channels (two vectors) at a time. */
void stats_strips(const double *restrict x, const double *restrict g, const double *restrict v,
                  long N, long C, long rows, double *restrict st)
{
    long nb = (N + rows - 1) / rows;
    #pragma omp parallel for schedule(static)
    for (long b = 0; b < nb; b++) {
        long r0 = b * rows, r1 = r0 + rows < N ? r0 + rows : N;
        double n = (double)(r1 - r0);
        double *S = st + b * 8 * C;
        for (long c = 0; c < C; c += 8) {
            v4 sx0 = {0}, sx1 = {0}, sg0 = {0}, sg1 = {0}, sv0 = {0}, sv1 = {0};
            for (long r = r0; r < r1; r++) {
                const double *px = x + r * C + c, *pg = g + r * C + c, *pv = v + r * C + c;
                sx0 += LD(px); sx1 += LD(px + 4); sg0 += LD(pg); sg1 += LD(pg + 4);
                sv0 += LD(pv); sv1 += LD(pv + 4);
            }
            v4 mx0 = sx0 / n, mx1 = sx1 / n, mg0 = sg0 / n, mg1 = sg1 / n;
            v4 mv0 = sv0 / n, mv1 = sv1 / n;
            v4 a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0}, c0 = {0}, c1 = {0}, d0 = {0}, d1 = {0};
            for (long r = r0; r < r1; r++) {
                const double *px = x + r * C + c, *pg = g + r * C + c, *pv = v + r * C + c;
                v4 dx0 = LD(px) - mx0, dx1 = LD(px + 4) - mx1;
                v4 dg0 = LD(pg) - mg0, dg1 = LD(pg + 4) - mg1;
                v4 dv0 = LD(pv) - mv0, dv1 = LD(pv + 4) - mv1;
                a0 += dx0 * dx0; a1 += dx1 * dx1; b0 += dx0 * dv0; b1 += dx1 * dv1;
                c0 += dx0 * dg0; c1 += dx1 * dg1; d0 += dg0 * dv0; d1 += dg1 * dv1;
            }
            v4 out[14] = {mx0, mx1, mg0, mg1, mv0, mv1, a0, a1, b0, b1, c0, c1, d0, d1};
            for (int j = 0; j < 8; j++) S[c + j] = n;
            for (int k = 0; k < 7; k++)
                for (int j = 0; j < 4; j++) {
                    S[(k + 1) * C + c + j] = out[2 * k][j];
                    S[(k + 1) * C + c + 4 + j] = out[2 * k + 1][j];
                }
        }
    }
    tree(st, nb, C);
}
"""


def _compile(cc: str, workdir: Path) -> ctypes.CDLL:
    src, lib = workdir / "stats.c", workdir / "libstats.so"
    src.write_text(SOURCE)
    cmd = [
        cc,
        "-O3",
        "-march=native",
        "-ffp-contract=fast",
        "-fopenmp",
        "-fPIC",
        "-shared",
        "-o",
        str(lib),
        str(src),
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(lib))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--c", type=int, default=512, help="a multiple of 8 (the strips)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-run-time", type=float, default=0.5)
    ap.add_argument("--cc", default="cc", help="C compiler (default: %(default)s)")
    args = ap.parse_args(argv)
    if not fused.ENABLED:
        print(
            "the library's statistics pass needs Numba (not installed or BNTHEORY_FUSED=0)",
            file=sys.stderr,
        )
        return 2
    if shutil.which(args.cc) is None:
        print(f"no C compiler {args.cc!r} on PATH", file=sys.stderr)
        return 2
    if args.c % 8:
        ap.error(f"--c must be a multiple of 8, got {args.c}")
    n, c = args.n, args.c
    gen = torch.Generator().manual_seed(0)
    xs, gs, vs = (
        t.numpy()
        for t in (
            torch.randn(n, c, dtype=torch.float64, generator=gen) * 3 + 7,
            torch.randn(n, c, dtype=torch.float64, generator=gen),
            torch.randn(n, c, dtype=torch.float64, generator=gen) + 2,
        )
    )
    rows, blocks = fused.BLOCK_ROWS, fused.block_count(n)
    scratch, lay = fused.scratch_buffer(xs, 7, blocks)
    st = {name: np.empty((blocks, 8, c)) for name in ("numba", "rows", "strips")}

    with tempfile.TemporaryDirectory() as tmp:
        try:
            lib = _compile(args.cc, Path(tmp))
        except subprocess.CalledProcessError as exc:
            print(f"compiling the C source failed:\n{exc.stderr}", file=sys.stderr)
            return 2
        ptr = ctypes.c_void_p
        lib.stats_rows.argtypes = [ptr] * 3 + [ctypes.c_long] * 3 + [ptr] * 3
        lib.stats_strips.argtypes = [ptr] * 3 + [ctypes.c_long] * 3 + [ptr]
        addr = [a.ctypes.data for a in (xs, gs, vs)]
        fns = {
            "Numba (the library's stats3)": lambda: fused.stats3(
                xs, gs, vs, st["numba"], rows, scratch, lay, fused.threads(n)
            ),
            "C, rows (the same algorithm)": lambda: lib.stats_rows(
                *addr, n, c, rows, st["rows"].ctypes.data, scratch.ctypes.data, lay.ctypes.data
            ),
            "C, 8-channel strips": lambda: lib.stats_strips(
                *addr, n, c, rows, st["strips"].ctypes.data
            ),
        }
        for fn in fns.values():
            fn()
        print(
            f"# torch {torch.__version__}, python {platform.python_version()}, "
            f"{torch.get_num_threads()} threads, {platform.machine()}; {args.cc} -O3 -march=native "
            "-fopenmp"
        )
        print(
            f"# three-array statistics of ({n}, {c}) float64, blocks of {rows} samples; medians "
            f"over {args.rounds} rounds"
        )
        ref = st["numba"][0]
        for name in ("rows", "strips"):
            err = float(np.max(np.abs(st[name][0] - ref) / np.maximum(np.abs(ref), 1e-300)))
            if err > 1e-12:
                raise AssertionError(
                    f"C {name}: merged statistics differ from the library's (max rel. err "
                    f"{err:.1e})"
                )
            print(
                f"# C {name}: merged statistics agree with the library's (max rel. err {err:.1e})"
            )
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(args.rounds):
            for name, fn in fns.items():
                timer = Timer("f()", globals={"f": fn}, num_threads=torch.get_num_threads())
                times[name].append(timer.blocked_autorange(min_run_time=args.min_run_time).median)
    base = statistics.median(times["Numba (the library's stats3)"])
    print(f"{'statistics pass':<32} | {'us':>7} {'vs Numba':>9} | rounds (us)")
    print("-" * 78)
    for name, ts in times.items():
        t = statistics.median(ts)
        rounds = " ".join(f"{s * 1e6:.0f}" for s in ts)
        print(f"{name:<32} | {t * 1e6:>7.0f} {t / base:>8.2f}x | {rounds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
