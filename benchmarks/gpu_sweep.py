"""A timed santurkar2018 sweep on synthetic CIFAR-shaped images, on CUDA (``make test-gpu``).

The paper's VGG-11 with its protocol (batch 128, Glorot initialization), none and BatchNorm at
learning rate 0.1, one seed, ``--steps`` SGD steps (default 300) with the preset's probe
schedule, through ``bntheory sweep``'s engine on the local backend.  Prints the estimate made
before the sweep, the wall time, seconds per step, and what the full preset (15 000 steps,
six normalizations, two learning rates) would take per seed on this device at that rate.

    python benchmarks/gpu_sweep.py [--steps N] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from bntheory.landscape import sweep


def main(argv: list[str] | None = None) -> int:
    """Time the sweep and print the rates; 2 without the device asked for."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    specs = sweep.plan(
        "santurkar2018", [0], ["none", "batchnorm"], [0.1], steps=args.steps,
        device=args.device, data="synthetic",
    )  # fmt: skip
    estimate = sweep.estimate_seconds(specs, parallel=1)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        outcome = sweep.run_sweep(specs, Path(tmp) / "s", jobs=1)
        wall = time.perf_counter() - t
    steps = sum(r["steps_done"] for r in outcome.results["runs"])
    full = sweep.plan("santurkar2018", [0], device=args.device, data="synthetic")
    per_step = wall / steps
    print(f"device: {torch.cuda.get_device_name() if args.device == 'cuda' else args.device}")
    print(f"runs: {len(specs)} x {args.steps} steps; estimated {estimate:.1f} s, took {wall:.1f} s")
    print(f"seconds per step (probes included): {per_step:.4f}")
    print(
        f"full santurkar2018 preset, one seed ({len(full)} runs x 15000 steps): "
        f"about {per_step * 15000 * len(full) / 3600:.1f} h at this rate"
    )
    for r in outcome.results["runs"]:
        print(f"  {r['key']}: {r['state']}, {r['steps_done']} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
