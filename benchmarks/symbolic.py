"""General-m proofs of Theorems 1 and 2 versus the explicit-m brute-force route, in one run.

    python benchmarks/symbolic.py [--ms 4 6 8] [--timeout 120] [--json PATH]

The general-m route is the proofs in proofs/ (index calculus + batch-vector algebra). The
explicit route builds BatchNorm for a concrete m with SymPy symbols, takes the Jacobian and
``sympy.hessian`` of the loss, and asks ``sympy.simplify`` that the theorem's exact identity
(eps = 0) is zero. Each explicit run has a wall-clock limit and is reported as "> limit" when
it does not finish. Everything runs on one core (one process at a time).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time

import sympy

from bntheory.atomic import atomic_write


def explicit_theorem1(m: int) -> bool:
    from bntheory.symbolic import explicit

    z, sym = explicit.forward("batchnorm", m, 0)
    g = sympy.Matrix(sympy.symbols(f"g0:{m}", real=True))
    J = sympy.Matrix(z).jacobian(sympy.Matrix(sym.y))
    ghat = J.T * g
    mu = sum(sym.y) / m
    sigma = sympy.sqrt(sum((t - mu) ** 2 for t in sym.y) / m)
    yhat = sympy.Matrix([(t - mu) / sigma for t in sym.y])
    target = sym.gamma**2 / sigma**2 * ((g.T * g)[0] - sum(g) ** 2 / m - (g.T * yhat)[0] ** 2 / m)
    return sympy.simplify((ghat.T * ghat)[0] - target) == 0


def explicit_theorem2(m: int) -> bool:
    from bntheory.symbolic import explicit

    z, sym = explicit.forward("batchnorm", m, 0)
    zz = sympy.Matrix(z)
    g = sympy.Matrix(sympy.symbols(f"g0:{m}", real=True))
    H = sympy.Matrix(m, m, lambda i, j: sympy.Symbol(f"h{min(i, j)}{max(i, j)}", real=True))
    z0 = sympy.Matrix(sympy.symbols(f"z0:{m}", real=True))
    loss = (g.T * (zz - z0))[0] + ((zz - z0).T * H * (zz - z0))[0] / 2
    at = dict(zip(z0, zz))
    hess = sympy.hessian(loss, sym.y).subs(at)
    J = zz.jacobian(sympy.Matrix(sym.y))
    ghat = J.T * g
    mu = sum(sym.y) / m
    sigma = sympy.sqrt(sum((t - mu) ** 2 for t in sym.y) / m)
    yhat = sympy.Matrix([(t - mu) / sigma for t in sym.y])
    lhs = (ghat.T * hess * ghat)[0]
    rhs = (
        sym.gamma**2 / sigma**2 * (ghat.T * H * ghat)[0]
        - sym.gamma / (m * sigma**2) * (g.T * yhat)[0] * (ghat.T * ghat)[0]
    )
    return sympy.simplify(lhs - rhs) == 0


def _child(fn_name: str, m: int, queue) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    start = time.perf_counter()
    ok = globals()[fn_name](m)
    queue.put((ok, time.perf_counter() - start))


def timed_explicit(fn_name: str, m: int, timeout: float) -> tuple[str, float | None]:
    queue = mp.get_context("fork").Queue()
    proc = mp.get_context("fork").Process(target=_child, args=(fn_name, m, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return "timed out", None
    ok, seconds = queue.get()
    return ("ok" if ok else "FAILED"), seconds


def general_proofs(all_proofs: bool = True) -> dict[str, float]:
    from bntheory.symbolic import catalogue

    proofs = {p.id: p for p in catalogue.load_proofs()}
    out = {}
    for pid in ("theorem1", "theorem2"):
        result = proofs[pid].run()
        if not result.ok:
            raise SystemExit(f"proof {pid} failed at steps {result.failed_steps}")
        out[pid] = result.seconds
    if not all_proofs:
        return out
    all_start = time.perf_counter()
    for p in catalogue.load_proofs():
        assert p.run().ok, p.id
    out["all proofs"] = time.perf_counter() - all_start
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ms", type=int, nargs="+", default=[4, 6, 8])
    ap.add_argument(
        "--timeout", type=float, default=120.0, help="wall-clock limit per explicit run (s)"
    )
    ap.add_argument("--json", default=None, help="also write the numbers as JSON to this path")
    ap.add_argument(
        "--no-all-proofs",
        action="store_true",
        help="skip the timing of every proof of proofs/ together (the tests run each of them)",
    )
    args = ap.parse_args(argv)
    print(
        f"# bntheory symbolic benchmark: sympy {sympy.__version__}, python "
        f"{platform.python_version()}, one core"
    )
    general = general_proofs(all_proofs=not args.no_all_proofs)
    rows = []
    for thm, fn in (("theorem1", "explicit_theorem1"), ("theorem2", "explicit_theorem2")):
        for m in args.ms:
            status, seconds = timed_explicit(fn, m, args.timeout)
            rows.append(
                {
                    "theorem": thm,
                    "m": m,
                    "explicit_status": status,
                    "explicit_s": seconds,
                    "general_s": general[thm],
                }
            )
    print(
        f"{'theorem':10s} {'m':>3s} {'general m (s)':>14s} {'explicit m (s)':>15s} "
        f"{'explicit/general':>17s}"
    )
    for r in rows:
        exp = f"{r['explicit_s']:.2f}" if r["explicit_s"] is not None else f"> {args.timeout:.0f}"
        ratio = (
            f"{r['explicit_s'] / r['general_s']:.1f}x"
            if r["explicit_s"] is not None
            else f"> {args.timeout / r['general_s']:.0f}x"
        )
        note = "" if r["explicit_status"] in ("ok", "timed out") else "  (explicit identity FAILED)"
        print(
            f"{r['theorem']:10s} {r['m']:3d} {r['general_s']:14.3f} {exp:>15s} {ratio:>17s}{note}"
        )
    if "all proofs" in general:
        print(
            "all general-m proofs together (incl. explicit cross-checks): "
            f"{general['all proofs']:.1f} s (target 20 s)"
        )
    else:
        print("all general-m proofs together: not timed (--no-all-proofs)")
    if args.json:
        atomic_write(
            args.json, json.dumps({"schema": 1, "rows": rows, "general": general}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
