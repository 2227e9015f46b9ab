"""The sweep engine's backends side by side: one grid, run by the local backend and by the
Ray backend (a local Ray cluster this script starts), in one run.

The grid: the ``smoke`` preset (MLP on Gaussian blobs, 30 SGD steps with probes), norms none
and batchnorm, learning rates 0.05 and 0.1, seeds 0-3: 16 runs.  Both backends get the same
number of parallel workers (``--jobs``, default 2) and write to fresh directories.  Printed
per backend: the sweep's wall time (for the local backend this includes spawning its worker
processes; Ray starts its workers in ``ray.init``), the cluster's start-up and shutdown
apart, the total, runs per minute over the total, and Ray's overhead per run against the
local backend, ``(total_ray - total_local) * jobs / runs``.  The two results.json must be
identical (the run exits with status 1 otherwise).

    python benchmarks/sweep.py [--jobs N] [--seeds N] [--preset P] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bntheory.landscape import sweep


def main(argv: list[str] | None = None) -> int:
    """Run the grid with both backends and print the table; 1 if their results differ."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=None, help="SGD steps per run (the preset's)")
    ap.add_argument("--preset", default="smoke", help="the grid's preset (default: smoke)")
    args = ap.parse_args(argv)
    try:
        import ray
    except ImportError:
        print("ray is not installed (pip install 'bntheory[ray]'): only the local backend runs")
        ray = None
    specs = sweep.plan(
        args.preset, list(range(args.seeds)), ["none", "batchnorm"], [0.05, 0.1], steps=args.steps
    )
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        sweep.run_sweep(specs, Path(tmp) / "local", jobs=args.jobs)
        t_local = time.perf_counter() - t
        results["local"] = json.loads((Path(tmp) / "local" / "results.json").read_text())
        rows.append(("local", t_local, None, None))
        if ray is not None:
            t = time.perf_counter()
            ray.init(include_dashboard=False, num_cpus=args.jobs, log_to_driver=False)
            t_init = time.perf_counter() - t
            t = time.perf_counter()
            sweep.run_sweep(specs, Path(tmp) / "ray", backend="ray", jobs=args.jobs)
            t_ray = time.perf_counter() - t
            t = time.perf_counter()
            ray.shutdown()
            t_down = time.perf_counter() - t
            results["ray"] = json.loads((Path(tmp) / "ray" / "results.json").read_text())
            rows.append(("ray", t_ray, t_init, t_down))
    n = len(specs)
    steps = f"{args.steps} steps" if args.steps else "the preset's steps"
    print(f"grid: {args.preset} preset, {n} runs of {steps}, {args.jobs} workers per backend\n")
    head = (
        "backend",
        "sweep s",
        "ray.init s",
        "shutdown s",
        "total s",
        "runs/min",
        "overhead/run s",
    )
    print(" ".join(f"{h:>{max(8, len(h))}s}" if i else f"{h:8s}" for i, h in enumerate(head)))
    for name, wall, init, down in rows:
        total = wall + (init or 0.0) + (down or 0.0)
        over = "" if name == "local" else f"{(total - t_local) * args.jobs / n:.3f}"
        cells = [
            f"{wall:.2f}",
            "" if init is None else f"{init:.2f}",
            "" if down is None else f"{down:.2f}",
            f"{total:.2f}",
            f"{60 * n / total:.1f}",
            over,
        ]
        print(f"{name:8s} " + " ".join(f"{c:>{max(8, len(h))}s}" for c, h in zip(cells, head[1:])))
    if "ray" in results:
        same = results["ray"] == results["local"]
        print(f"\nresults.json identical across backends: {same}")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
