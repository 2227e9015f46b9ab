"""Cases verified per second: per-case autograd against the vectorised closed forms, one run.

    python benchmarks/verify.py [--m 64] [--cases 200] [--vectorised 40000]

Both routes verify the same kind of pre-generated random cases (``random_batch``):

* per-case: ``bntheory.theorems.case.quantities`` (autograd gradient and Hessian-vector
  product through the layer, plus the closed-form cross-check) and the statement's margin;
* vectorised: ``batch_quantities`` + ``margin_terms`` on batches of ``--chunk`` cases (every
  case one channel of a BatchNorm input, closed forms for all at once).

``speedup`` and ``per minute`` compare verification with verification; ``sweep/min`` is the
whole ``bntheory verify --sweep`` campaign, random case generation included.  A sample of
the vectorised margins is cross-checked against the per-case ones in the same run.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import torch

from bntheory.cases.theorem import Case
from bntheory.claims.sweep import random_batch, sweep
from bntheory.theorems.case import batch_quantities
from bntheory.theorems.catalogue import get_statement
from bntheory.theorems.margin import margin, margin_terms

STATEMENTS = ("thm1.transcribed", "thm2.paper", "thm2.paper-relnorm")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--cases", type=int, default=200, help="cases for the per-case route")
    ap.add_argument("--vectorised", type=int, default=40000, help="cases for the vectorised route")
    ap.add_argument("--chunk", type=int, default=2048, help="cases per vectorised batch")
    args = ap.parse_args(argv)
    print(
        f"# torch {torch.__version__}, python {platform.python_version()}, "
        f"{torch.get_num_threads()} threads, float64, m = {args.m}"
    )
    gen = torch.Generator().manual_seed(0)
    sample = random_batch(args.cases, args.m, 1e-5, gen)
    sweep(get_statement("thm1.exact"), "eps>0", 64, m=args.m)  # warm-up (imports, first calls)
    batches = [
        random_batch(min(args.chunk, args.vectorised - s), args.m, 1e-5, gen)
        for s in range(0, args.vectorised, args.chunk)
    ]
    print(
        f"{'statement':20s} {'per-case/s':>11s} {'vectorised/s':>13s} {'speedup':>8s} "
        f"{'per minute':>12s} {'sweep/min':>10s} {'max |diff|/scale':>17s}"
    )
    for sid in STATEMENTS:
        st = get_statement(sid)
        start = time.perf_counter()
        per = [
            margin(
                st, Case(sample.y[i], float(sample.gamma[i]), 0.0, 1e-5, sample.g[i], sample.H[i])
            )
            for i in range(args.cases)
        ]
        per_rate = args.cases / (time.perf_counter() - start)
        slack, scale, _, _ = margin_terms(st, batch_quantities(sample))
        diff = max(abs(float(slack[i]) - p.slack) / p.scale for i, p in enumerate(per))
        start = time.perf_counter()
        for batch in batches:
            margin_terms(st, batch_quantities(batch))
        vec_rate = args.vectorised / (time.perf_counter() - start)
        start = time.perf_counter()
        sweep(st, "eps>0", args.vectorised, m=args.m, chunk=args.chunk)
        sweep_rate = args.vectorised / (time.perf_counter() - start)
        print(
            f"{sid:20s} {per_rate:11.0f} {vec_rate:13.0f} {vec_rate / per_rate:7.0f}x "
            f"{vec_rate * 60:12.3g} {sweep_rate * 60:10.3g} {diff:17.1e}"
        )
    print("targets: >= 100x at m = 64; >= 1e6 cases per minute vectorised")
    return 0


if __name__ == "__main__":
    sys.exit(main())
