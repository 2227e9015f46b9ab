"""Closed-form derivatives of every registered layer against torch.autograd and the memory floor.

Two tables.  The first, BatchNorm's, in detail:

For each size ``(N, C)`` (float64, CPU, training mode, ``eps = 1e-5``, random ``weight`` and
``bias``) this times, through the public API of ``bntheory.get_layer("batchnorm")``:

* ``vjp``: the closed form ``J^T g`` against autograd of ``torch.nn.functional.batch_norm``
  (forward + ``torch.autograd.grad``);
* ``hvp``: the closed form ``nabla^2 <g, BN(x)> v`` against autograd double backward
  (``grad`` of ``<g, F.batch_norm(x)>`` with ``create_graph=True``, then ``grad`` of
  ``<that, v>``);
* the memory-traffic floor of each op: the bytes it must move (vjp reads ``x``, ``g`` and
  writes the result: 3 arrays; hvp reads ``x``, ``g``, ``v`` and writes: 4 arrays) divided by
  a copy bandwidth measured in the same run (``dst.copy_(src)`` on an array of the same size,
  bytes read + written per second).

The closed-form times include the argument validation the public API always does (shape,
dtype and finiteness checks); the ``check x`` column is that validation alone for ``x``
(``parse_args``, with its finiteness pass over ``x``).  The fused route does not pay that
pass separately: its statistics find a non-finite input on the way (a non-finite mean), and
only then are the full checks run.  Each closed form is
also checked against its autograd counterpart in the same run: ``rel.err`` is
``max|closed - autograd| / max|autograd|``; if the difference exceeds the suite's error model
(``bntheory.verify.compare``) the run exits with status 1.

The second table does the same for every other registered layer (``bntheory layers``:
LayerNorm, GroupNorm, InstanceNorm, RMSNorm, the l1/l2/l-inf BatchNorms, noisy BatchNorm,
and any layer a package registers), through each layer's public ``vjp`` and ``hvp``, at the
same numbers of values ``N*C``:

* the input is ``(N, C)`` where the layer takes it: the batch-type layers; LayerNorm and
  RMSNorm with ``normalized_shape=(C,)``; GroupNorm with ``num_groups=8`` (the largest divisor
  of ``C`` up to 8 and below ``C`` where 8 does not divide it).  A layer that needs a spatial
  axis (InstanceNorm) gets ``(N, C/4, 4)``: the same number of values, in groups of 4.  The
  table's ``input`` and ``groups x m`` columns say what each layer got;
* the other arguments are the layer's ``example_kwargs`` (training mode, ``eps = 1e-5``,
  ``weight_kind="mixed"``: weights of mixed signs and some zeros, Gaussian biases); noisy
  BatchNorm's noise is drawn once from the seed it gives and passed as the ``(scale, shift)``
  tensors, so that neither route times the random draw;
* autograd is of the layer's ``torch_counterpart`` where it has one (``F.layer_norm``,
  ``F.group_norm``, ``F.instance_norm``, ``F.rms_norm``), else of its own
  ``stateless_forward``; hvp by double backward as for BatchNorm;
* the floor counts the same arrays as BatchNorm's, plus one for an input-shaped tensor the
  derivatives must read (noisy BatchNorm's noise scale), over a copy bandwidth measured with
  the layers' functions;
* ``rel.err`` as above, and ``err/bound`` the fraction of the error model's bound the
  difference uses (``bntheory.verify.compare``); above 1, or a layer that fails to run, the
  run names the case and exits with status 1.

The functions of all the layers at one size take turns together.  ``--layers`` picks the
layers (BatchNorm's table runs when ``batchnorm`` is among them, as it is by default);
``--quick`` times the other layers at its larger size only.

Timing: ``torch.utils.benchmark.Timer.blocked_autorange``, the functions of one size taking
turns over several rounds so that a change in the machine's load falls on all of them
alike; each number is the median over all blocks.  The header says how busy the CPU was
just before the start: on a shared machine the numbers move by tens of percent.

Usage::

    python benchmarks/closed_forms.py                 # full run
    python benchmarks/closed_forms.py --quick         # tiny sizes, short timings (smoke test)
    python benchmarks/closed_forms.py --threads 1 --json out.json
    python benchmarks/closed_forms.py --layers layernorm,rmsnorm   # these layers only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

from bntheory import get_layer
from bntheory.atomic import atomic_write
from bntheory.errors import UnknownLayerError
from bntheory.norms import fused, layer_names
from bntheory.norms.batchnorm import parse_args
from bntheory.verify.compare import compare

FULL_SIZES: tuple[tuple[int, int], ...] = ((256, 64), (1024, 512), (4096, 256))
QUICK_SIZES: tuple[tuple[int, int], ...] = ((16, 4), (64, 8))
# --quick times the other layers at one size only, to stay a few seconds
QUICK_LAYER_SIZES: tuple[tuple[int, int], ...] = ((64, 8),)
EPS = 1e-5
MOMENTUM = 0.1
DTYPE = torch.float64
# The targets of the issue, checked at this size.
TARGET_SIZE = (1024, 512)
TARGET_HVP_SPEEDUP = 4.0  # closed-form hvp at least this many times faster than double backward
TARGET_HVP_FLOOR = 3.0  # closed-form hvp within this factor of the memory floor
# The other layers: the spatial extent given to a layer that needs a spatial axis (input
# (N, C/4, 4) for a size (N, C)), and GroupNorm's number of groups.
SPATIAL = 4
NUM_GROUPS = 8


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_busy_fraction(seconds: float = 0.5) -> float | None:
    """Fraction of all cores' time spent busy (or stolen by the hypervisor) over the next
    ``seconds``, from ``/proc/stat``; ``None`` where that is not available.  Measured before
    any timing starts, it says whether other processes compete for the machine."""

    def snapshot() -> tuple[int, int]:
        with open("/proc/stat", encoding="utf-8") as fh:
            fields = [int(f) for f in fh.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle  # user nice system idle iowait irq softirq steal

    try:
        total0, idle0 = snapshot()
        time.sleep(seconds)
        total1, idle1 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return None if total <= 0 else 1.0 - (idle1 - idle0) / total


def time_interleaved(
    fns: dict[str, Callable[[], Any]], min_run_time: float, rounds: int
) -> dict[str, float]:
    """Median seconds per call of each function.

    Each function gets ``rounds`` turns of ``Timer.blocked_autorange(min_run_time / rounds)``
    (``torch.utils.benchmark``), the functions taking turns, so that a change in the
    machine's load during the run falls on all of them alike; the result is the median of
    all the blocks a function ran.
    """
    for fn in fns.values():
        fn()  # warm-up: first-call dispatch, allocator
    blocks: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
            blocks[name].extend(timer.blocked_autorange(min_run_time=min_run_time / rounds).times)
    return {name: statistics.median(times) for name, times in blocks.items()}


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = float(b.abs().max())
    return float((a - b).abs().max()) / (scale if scale > 0 else 1.0)


def bench_size(
    n: int, c: int, min_run_time: float, rounds: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Time and check vjp and hvp at one size; every time in seconds."""
    bn = get_layer("batchnorm")
    gen = torch.Generator().manual_seed(seed + 1000 * n + c)
    x = torch.randn(n, c, dtype=DTYPE, generator=gen)
    g = torch.randn(n, c, dtype=DTYPE, generator=gen)
    v = torch.randn(n, c, dtype=DTYPE, generator=gen)
    weight = torch.randn(c, dtype=DTYPE, generator=gen)
    bias = torch.randn(c, dtype=DTYPE, generator=gen)
    args = (None, None, weight, bias, True, MOMENTUM, EPS)

    def closed_vjp() -> torch.Tensor:
        return bn.vjp(x, g, *args)

    def closed_hvp() -> torch.Tensor:
        return bn.hvp(x, g, v, *args)

    def autograd_vjp() -> torch.Tensor:
        xr = x.detach().requires_grad_(True)
        out = F.batch_norm(xr, None, None, weight, bias, True, MOMENTUM, EPS)
        (gx,) = torch.autograd.grad(out, xr, g)
        return gx

    def autograd_hvp() -> torch.Tensor:
        xr = x.detach().requires_grad_(True)
        out = F.batch_norm(xr, None, None, weight, bias, True, MOMENTUM, EPS)
        (gx,) = torch.autograd.grad(out, xr, g, create_graph=True)
        (hv,) = torch.autograd.grad(gx, xr, v)  # grad of <gx, v>
        return hv

    def check_x() -> Any:
        return parse_args(x, *args)

    def torch_route(fn: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            saved, fused.ENABLED = fused.ENABLED, False
            try:
                return fn()
            finally:
                fused.ENABLED = saved

        return run

    coef = torch.randn(6, c, dtype=DTYPE, generator=gen)

    def output_pass() -> torch.Tensor:
        # the fused hvp's second pass alone: read x, g, v once, write the result once
        return fused.combine(coef, x, g, v)

    src = torch.randn(n, c, dtype=DTYPE, generator=gen)
    dst = torch.empty_like(src)

    def copy() -> torch.Tensor:
        return dst.copy_(src)

    err_vjp = rel_err(closed_vjp(), autograd_vjp())
    err_hvp = rel_err(closed_hvp(), autograd_hvp())
    # agreement is decided by the suite's one error model, not by a tolerance of this script
    used = {
        "vjp": compare(bn, "vjp", x, closed_vjp(), autograd_vjp(), args, {}, g=g).max_ratio,
        "hvp": compare(bn, "hvp", x, closed_hvp(), autograd_hvp(), args, {}, g=g, v=v).max_ratio,
    }

    fns = {
        "copy": copy,
        "check_x": check_x,
        "closed_vjp": closed_vjp,
        "autograd_vjp": autograd_vjp,
        "closed_hvp": closed_hvp,
        "autograd_hvp": autograd_hvp,
    }
    if fused.ENABLED:  # the blocked torch route side by side, and the fused output pass alone
        fns.update(
            torchroute_vjp=torch_route(closed_vjp),
            torchroute_hvp=torch_route(closed_hvp),
            output_pass=output_pass,
        )
    t = time_interleaved(fns, min_run_time, rounds)
    nbytes = x.numel() * x.element_size()
    bandwidth = 2 * nbytes / t["copy"]  # read + write, bytes per second
    res: dict[str, Any] = {
        "N": n,
        "C": c,
        "array_bytes": nbytes,
        "copy_s": t["copy"],
        "copy_bandwidth_Bps": bandwidth,
        "check_x_s": t["check_x"],
    }
    for op, arrays, err in (("vjp", 3, err_vjp), ("hvp", 4, err_hvp)):
        t_closed, t_auto = t["closed_" + op], t["autograd_" + op]
        floor = arrays * nbytes / bandwidth
        res[op] = {
            "closed_s": t_closed,
            "autograd_s": t_auto,
            "speedup": t_auto / t_closed,
            "floor_bytes": arrays * nbytes,
            "floor_s": floor,
            "closed_over_floor": t_closed / floor,
            "torch_route_s": t.get("torchroute_" + op),
            "output_pass_s": t.get("output_pass") if op == "hvp" else None,
            "output_pass_over_floor": t["output_pass"] / floor
            if op == "hvp" and "output_pass" in t
            else None,
            "rel_err": err,
            "error_bound_used": used[op],
        }
    return res


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f}"


def _opt_us(seconds: float | None) -> str:
    return "-" if seconds is None else _us(seconds)


def format_table(results: Sequence[dict[str, Any]]) -> str:
    head = (
        f"{'N':>5} {'C':>4} | {'op':>3} | {'closed us':>9} {'autograd us':>11} {'speedup':>7} | "
        f"{'torch-route us':>14} | {'floor us':>8} {'closed/floor':>12} {'out-pass/floor':>14} | "
        f"{'copy GB/s':>9} {'check x us':>10} | {'rel.err':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        for op in ("vjp", "hvp"):
            o = r[op]
            out_pass = (
                "-"
                if o["output_pass_over_floor"] is None
                else f"{o['output_pass_over_floor']:.1f}x"
            )
            lines.append(
                f"{r['N']:>5} {r['C']:>4} | {op:>3} | {_us(o['closed_s']):>9} "
                f"{_us(o['autograd_s']):>11} {o['speedup']:>6.2f}x | "
                f"{_opt_us(o['torch_route_s']):>14} | {_us(o['floor_s']):>8} "
                f"{o['closed_over_floor']:>11.1f}x {out_pass:>14} | "
                f"{r['copy_bandwidth_Bps'] / 1e9:>9.1f} {_us(r['check_x_s']):>10} | "
                f"{o['rel_err']:>8.1e}"
            )
    return "\n".join(lines)


def check_targets(results: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The issue's two targets for hvp at ``TARGET_SIZE``; ``None`` if that size was not run."""
    for r in results:
        if (r["N"], r["C"]) == TARGET_SIZE:
            h = r["hvp"]
            return {
                "size": list(TARGET_SIZE),
                "speedup": h["speedup"],
                "speedup_target": TARGET_HVP_SPEEDUP,
                "speedup_met": h["speedup"] >= TARGET_HVP_SPEEDUP,
                "closed_over_floor": h["closed_over_floor"],
                "floor_target": TARGET_HVP_FLOOR,
                "floor_met": h["closed_over_floor"] <= TARGET_HVP_FLOOR,
            }
    return None


def target_lines(targets: dict[str, Any] | None) -> list[str]:
    if targets is None:
        return [f"targets are checked at {TARGET_SIZE}, not among the sizes run"]
    size = tuple(targets["size"])
    return [
        f"target at {size}: hvp >= {targets['speedup_target']:g}x faster than double backward: "
        f"{'MET' if targets['speedup_met'] else 'MISSED'} ({targets['speedup']:.2f}x)",
        f"target at {size}: hvp within {targets['floor_target']:g}x of the memory floor: "
        f"{'MET' if targets['floor_met'] else 'MISSED'} ({targets['closed_over_floor']:.1f}x)",
    ]


# ------------------------------------------------------------------ the other layers
def num_groups(c: int) -> int:
    """``NUM_GROUPS`` where it divides ``c``, else the largest divisor of ``c`` below it and
    below ``c`` (groups of at least two channels), else 1."""
    if c % NUM_GROUPS == 0 and c > NUM_GROUPS:
        return NUM_GROUPS
    return max([k for k in range(1, min(NUM_GROUPS, c - 1) + 1) if c % k == 0] or [1])


def describe(value: Any) -> Any:
    """A keyword argument as JSON and the report show it: a tensor by its shape."""
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return [describe(u) for u in value]
    return value


def layer_setup(
    layer: Any, n: int, c: int, seed: int
) -> tuple[tuple[int, ...], dict[str, Any]] | None:
    """The input shape (``N*C`` values) and keyword arguments ``layer`` is timed with at size
    ``(N, C)``: ``(N, C)`` if its ``example_kwargs`` take that shape, else ``(N, C/SPATIAL,
    SPATIAL)``; None if it takes neither."""
    rng = np.random.default_rng(seed)
    shapes = [(n, c)] + ([(n, c // SPATIAL, SPATIAL)] if c % SPATIAL == 0 else [])
    for shape in shapes:
        kw = layer.example_kwargs(
            shape, eps=EPS, training=True, weight_kind="mixed", rng=rng, device="cpu"
        )
        if kw is not None:
            if "num_groups" in kw:  # GroupNorm: a fixed number of groups, not a random divisor
                kw["num_groups"] = num_groups(shape[1])
            return shape, kw
    return None


def bench_layers_size(
    names: Sequence[str], n: int, c: int, min_run_time: float, rounds: int = 5, seed: int = 0
) -> list[dict[str, Any]]:
    """Time and check vjp and hvp of each layer at size ``(N, C)``, all the layers' functions
    taking turns; one result per layer (``error`` set where the layer failed to run)."""
    fns: dict[str, Callable[[], Any]] = {}
    out: list[dict[str, Any]] = []
    for name in names:
        layer = get_layer(name)
        res: dict[str, Any] = {"layer": name, "N": n, "C": c}
        out.append(res)
        try:
            setup = layer_setup(layer, n, c, seed + 1000 * n + c)
            if setup is None:
                res["error"] = (
                    f"example_kwargs gives no arguments for ({n}, {c}) nor ({n}, {c}/{SPATIAL}, "
                    f"{SPATIAL})"
                )
                continue
            shape, kw = setup
            gen = torch.Generator().manual_seed(seed + 1000 * n + c)
            x = torch.randn(*shape, dtype=DTYPE, generator=gen)
            g = torch.randn(*shape, dtype=DTYPE, generator=gen)
            v = torch.randn(*shape, dtype=DTYPE, generator=gen)
            extra = 0
            if isinstance(kw.get("noise"), int) and hasattr(layer, "noise"):
                # drawn once: time the derivatives, not the draw
                kw["noise"] = tuple(layer.noise(x, kw["noise"]))
            if isinstance(kw.get("noise"), tuple):
                # the noise scale multiplies the gradient: one more input-shaped array to read
                extra = 1
            counterpart = layer.torch_counterpart
            forward = counterpart if counterpart is not None else layer.stateless_forward
            res.update(
                shape=list(shape),
                arrays_extra=extra,
                autograd_of=f"F.{counterpart.__name__}"
                if counterpart is not None
                else "stateless_forward",
                kwargs={k: describe(t) for k, t in kw.items()},
                provides={op: layer.provides()[op] for op in ("vjp", "hvp")},
            )
            rows = layer.groups(x, **kw)
            res["groups"], res["m"] = int(rows.shape[0]), int(rows.shape[1])

            def closed_vjp(layer=layer, x=x, g=g, kw=kw) -> torch.Tensor:
                return layer.vjp(x, g, **kw)

            def closed_hvp(layer=layer, x=x, g=g, v=v, kw=kw) -> torch.Tensor:
                return layer.hvp(x, g, v, **kw)

            def autograd_vjp(forward=forward, x=x, g=g, kw=kw) -> torch.Tensor:
                xr = x.detach().requires_grad_(True)
                (gx,) = torch.autograd.grad(forward(xr, **kw), xr, g)
                return gx

            def autograd_hvp(forward=forward, x=x, g=g, v=v, kw=kw) -> torch.Tensor:
                xr = x.detach().requires_grad_(True)
                (gx,) = torch.autograd.grad(forward(xr, **kw), xr, g, create_graph=True)
                (hv,) = torch.autograd.grad(gx, xr, v)  # grad of <gx, v>
                return hv

            for op, closed, auto in (
                ("vjp", closed_vjp, autograd_vjp),
                ("hvp", closed_hvp, autograd_hvp),
            ):
                a, b = closed(), auto()
                cmp = compare(layer, op, x, a, b, (), kw, g=g, v=v if op == "hvp" else None)
                res[op] = {"rel_err": rel_err(a, b), "error_bound_used": cmp.max_ratio}
        except (
            Exception
        ) as exc:  # a layer that fails is reported (exit status 1), the others still run
            res["error"] = f"{type(exc).__name__}: {exc}"
            continue
        fns.update(
            {
                f"{name}/closed_vjp": closed_vjp,
                f"{name}/autograd_vjp": autograd_vjp,
                f"{name}/closed_hvp": closed_hvp,
                f"{name}/autograd_hvp": autograd_hvp,
            }
        )
    if not fns:
        return out
    src = torch.randn(n, c, dtype=DTYPE)
    dst = torch.empty_like(src)
    fns["copy"] = lambda: dst.copy_(src)
    t = time_interleaved(fns, min_run_time, rounds)
    nbytes = n * c * torch.finfo(DTYPE).bits // 8
    bandwidth = 2 * nbytes / t["copy"]  # read + write, bytes per second
    for res in out:
        if "error" in res:
            continue
        res.update(array_bytes=nbytes, copy_s=t["copy"], copy_bandwidth_Bps=bandwidth)
        for op, arrays in (("vjp", 3), ("hvp", 4)):
            t_closed, t_auto = t[f"{res['layer']}/closed_{op}"], t[f"{res['layer']}/autograd_{op}"]
            floor = (arrays + res["arrays_extra"]) * nbytes / bandwidth
            res[op].update(
                closed_s=t_closed,
                autograd_s=t_auto,
                speedup=t_auto / t_closed,
                floor_bytes=(arrays + res["arrays_extra"]) * nbytes,
                floor_s=floor,
                closed_over_floor=t_closed / floor,
            )
    return out


def format_layer_table(results: Sequence[dict[str, Any]]) -> str:
    head = (
        f"{'layer':<14} {'input':>12} {'groups x m':>12} {'autograd of':>17} | {'op':>3} | "
        f"{'closed us':>9} {'autograd us':>11} {'speedup':>7} | {'floor us':>8} "
        f"{'closed/floor':>12} | {'copy GB/s':>9} | {'rel.err':>8} {'err/bound':>9}"
    )
    lines = [head, "-" * len(head)]
    previous = None
    for r in sorted(results, key=lambda r: (r["layer"], r["N"] * r["C"], r["N"])):
        if previous is not None and r["layer"] != previous:
            lines.append("")
        previous = r["layer"]
        if "error" in r:
            lines.append(f"{r['layer']:<14} {r['N']:>5} x {r['C']:<4} FAILED: {r['error']}")
            continue
        shape = "x".join(str(d) for d in r["shape"])
        groups = f"{r['groups']}x{r['m']}"
        for op in ("vjp", "hvp"):
            o = r[op]
            mark = "" if r["provides"][op] == "closed form" else "*"
            lines.append(
                f"{r['layer']:<14} {shape:>12} {groups:>12} {r['autograd_of']:>17} | "
                f"{op + mark:>3} | {_us(o['closed_s']):>9} {_us(o['autograd_s']):>11} "
                f"{o['speedup']:>6.2f}x | {_us(o['floor_s']):>8} {o['closed_over_floor']:>11.1f}x "
                f"| {r['copy_bandwidth_Bps'] / 1e9:>9.1f} | {o['rel_err']:>8.1e} "
                f"{o['error_bound_used']:>9.3f}"
            )
    return "\n".join(lines)


def layer_disagreements(results: Sequence[dict[str, Any]]) -> list[str]:
    """One line per failed layer and per (layer, size, op) beyond the error model's bound."""
    bad = []
    for r in results:
        if "error" in r:
            bad.append(f"FAILED: {r['layer']} at size ({r['N']}, {r['C']}): {r['error']}")
            continue
        for op in ("vjp", "hvp"):
            o = r[op]
            if not o["error_bound_used"] <= 1.0:  # NaN counts as a disagreement
                bad.append(
                    f"DISAGREE: {r['layer']} {op} at input {tuple(r['shape'])} ({r['kwargs']}): "
                    f"closed form vs autograd of {r['autograd_of']}: rel.err {o['rel_err']:.3e}, "
                    f"{o['error_bound_used']:.3f} of the error model's bound"
                )
    return bad


def parse_cli(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="closed_forms.py",
        description="Time the registered layers' closed-form vjp/hvp against torch.autograd "
        "and the memory floor.",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=available_cores(),
        help="torch.set_num_threads value (default: all available cores, %(default)s here)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and few repeats: a smoke test, not a measurement",
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write the numbers as JSON to PATH (atomically)"
    )
    parser.add_argument(
        "--min-run-time",
        type=float,
        default=None,
        help="seconds of timing per function and size (default 2.0, or 0.02 with --quick)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="turns the timed functions take, interleaved (default 5, or 1 with --quick)",
    )
    parser.add_argument(
        "--layers",
        default=None,
        metavar="NAMES",
        help=f"comma-separated layer names (default: all registered: {','.join(layer_names())}); "
        "BatchNorm's table runs when batchnorm is among them",
    )
    args = parser.parse_args(argv)
    if args.layers is None:
        args.layers = layer_names()
    else:
        names = []
        for raw in args.layers.split(","):
            if not raw.strip():
                continue
            try:
                name = get_layer(raw).name
            except UnknownLayerError as exc:
                parser.error(f"--layers: {exc.args[0] if exc.args else exc}")
            if name not in names:
                names.append(name)
        if not names:
            parser.error("--layers: no layer named")
        args.layers = names
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.min_run_time is not None and args.min_run_time <= 0:
        parser.error(f"--min-run-time must be > 0, got {args.min_run_time}")
    if args.rounds is not None and args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_cli(argv)
    torch.set_num_threads(args.threads)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    min_run_time = (
        args.min_run_time if args.min_run_time is not None else (0.02 if args.quick else 2.0)
    )
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    busy = cpu_busy_fraction()
    meta = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cores": available_cores(),
        "cpu": cpu_model(),
        "dtype": str(DTYPE).replace("torch.", ""),
        "device": "cpu",
        "training": True,
        "eps": EPS,
        "timer": (
            f"torch.utils.benchmark.Timer.blocked_autorange, {rounds} interleaved round(s), "
            f"{min_run_time:g} s per function; median of the blocks"
        ),
        "quick": args.quick,
        "fused_route": fused.ENABLED,
        "cpu_busy_before_start": busy,
        "layers": list(args.layers),
    }
    print("Closed forms vs torch.autograd (bntheory): BatchNorm, then the other registered layers")
    print(
        f"torch {meta['torch']}, python {meta['python']}, threads {meta['threads']} (of "
        f"{meta['cores']} cores), CPU: {meta['cpu']}"
    )
    print(
        f"{meta['dtype']}, cpu, training mode, eps={EPS:g}, random weight and bias; {meta['timer']}"
    )
    route = (
        "fused Numba kernels"
        if fused.ENABLED
        else "blocked torch (Numba unavailable or BNTHEORY_FUSED=0)"
    )
    print(f"closed-form route: {route}")
    if busy is not None:
        print(f"CPU busy before the start (other processes, steal): {100 * busy:.0f}% of all cores")
        if busy > 0.1:
            print(
                "warning: other processes compete for the CPU (and its caches): the timings are "
                "noisy"
            )
    if args.quick:
        print("--quick: tiny sizes and short timings, a smoke test; the numbers mean nothing")
    print(flush=True)

    results: list[dict[str, Any]] = []
    agree, used, targets = True, 0.0, None
    if "batchnorm" in args.layers:
        print("BatchNorm (batchnorm): closed forms vs autograd of torch.nn.functional.batch_norm")
        print(flush=True)
        results = [bench_size(n, c, min_run_time, rounds) for n, c in sizes]
        print(format_table(results))
        print()
        print(
            "floor = arrays that must move (vjp 3, hvp 4) x N*C*8 bytes / copy bandwidth of this "
            "run;"
        )
        print(
            "closed times include the public API's input validation ('check x': parse_args(x) "
            "alone, with a"
        )
        print("finiteness pass over x that the fused route folds into its statistics);")
        print(
            "closed = the fused Numba route where it applies (2-D CPU batches), torch-route = the "
            "blocked"
        )
        print(
            "torch route of the same formulas; out-pass = the fused hvp's output pass alone (reads "
            "x, g, v"
        )
        print(
            "and writes the result once, after the statistics are known): no two-pass hvp beats it."
        )
        worst = max(r[op]["rel_err"] for r in results for op in ("vjp", "hvp"))
        used = max(r[op]["error_bound_used"] for r in results for op in ("vjp", "hvp"))
        agree = used <= 1.0
        print(
            f"closed forms vs autograd: largest rel.err {worst:.1e}, {used:.3f} of the error "
            f"model's bound: {'agree' if agree else 'DISAGREE'}"
        )
        targets = check_targets(results)
        for line in target_lines(targets):
            print(line)
    else:
        print("BatchNorm's table: not run (batchnorm is not among --layers)")

    others = [name for name in args.layers if name != "batchnorm"]
    layer_sizes = QUICK_LAYER_SIZES if args.quick else sizes
    layer_results: list[dict[str, Any]] = []
    layers_agree, layers_used = True, 0.0
    if others:
        print()
        print(
            "Other layers: closed forms vs autograd of the torch counterpart, else of the layer's "
            "own"
        )
        print(f"stateless_forward; N*C = {', '.join(f'{n}x{c}' for n, c in layer_sizes)} values")
        print(flush=True)
        for n, c in layer_sizes:
            layer_results.extend(bench_layers_size(others, n, c, min_run_time, rounds))
        print(format_layer_table(layer_results))
        print()
        print(
            "input = (N, C) for the batch-type layers and layernorm/rmsnorm "
            "(normalized_shape=(C,)), and for"
        )
        print(
            f"groupnorm with num_groups={NUM_GROUPS} (fewer where C is small); (N, C/{SPATIAL}, "
            f"{SPATIAL}) for a layer that needs a"
        )
        print(
            "spatial axis (instancenorm), the same N*C values; groups x m = normalization groups x "
            "values in each;"
        )
        print(
            "other arguments = the layer's example_kwargs (training, weight_kind=mixed); "
            "noisybatchnorm's noise is"
        )
        print(
            "drawn once and passed as (scale, shift) tensors; closed = the layer's public vjp/hvp, "
            "input"
        )
        print(
            "validation included (* = no closed form: the autograd fallback); floor = arrays that "
            "must move"
        )
        print(
            "(vjp 3, hvp 4, +1 for noisybatchnorm's noise scale) x N*C*8 bytes / copy bandwidth "
            "measured with"
        )
        print(
            "these functions; err/bound = the fraction of the error model's bound the difference "
            "uses."
        )
        bad = layer_disagreements(layer_results)
        ok = [r for r in layer_results if "error" not in r]
        layers_used = max(
            (r[op]["error_bound_used"] for r in ok for op in ("vjp", "hvp")), default=0.0
        )
        worst = max((r[op]["rel_err"] for r in ok for op in ("vjp", "hvp")), default=0.0)
        layers_agree = not bad
        verdict = (
            "agree"
            if layers_agree
            else "DISAGREE"
            if any(b.startswith("DISAGREE") for b in bad)
            else "agree where they ran, but some FAILED"
        )
        print(
            f"closed forms vs autograd, other layers: largest rel.err {worst:.1e}, "
            f"{layers_used:.3f} of the error model's bound: {verdict}"
        )
        for line in bad:
            print(line)
    all_agree = agree and layers_agree
    if args.json:
        atomic_write(
            args.json,
            json.dumps(
                {
                    "meta": meta,
                    "results": results,
                    "targets": targets,
                    "agree": agree,
                    "error_bound_used": used,
                    "layer_results": layer_results,
                    "layers_agree": layers_agree,
                    "layers_error_bound_used": layers_used,
                    "all_agree": all_agree,
                },
                indent=2,
            )
            + "\n",
        )
        print(f"wrote {args.json}")
    return 0 if all_agree else 1


if __name__ == "__main__":
    sys.exit(main())
