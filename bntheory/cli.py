"""The ``bntheory`` command.

    bntheory layers [--json]                 list registered layers and what each provides
    bntheory prove [NAME ...]                run the executable proofs in proofs/
    bntheory verify [--profile ci|thorough] [--out DIR] [--tightness] [--jobs N]
        judge every catalogued claim
    bntheory search STATEMENT [--m M] [--regime R] [--objective O] [--budget N]
        worst case / tightness
    bntheory landscape --preset P [--norm ...] [--lr ...] [--seeds N] --out DIR
        train and probe one preset's runs
    bntheory sweep --preset P [--norm ...] [--lr ...] [--seeds N] [--backend local|ray]
        [--address ADDR] [--gpus-per-run G] [--jobs N] --out DIR
        a resumable grid of runs, locally or on a Ray cluster, aggregated over seeds
    bntheory check NAME [--device cpu|cuda] [--full]
        the whole battery of checks on a registered layer
    bntheory torch-check [--device cpu|cuda] [--profile quick|ci|thorough] [--function F ...]
        [--route R ...] [--out DIR] [--jobs N]
        PyTorch's autodiff routes through its normalization functions against the closed
        forms; exit status 1 when a route is refuted
    bntheory report [--out DIR] [--seed N] [--device cpu|cuda] [--layer NAME ...]
        [--quick] [--jobs N]
        (with --layer: only the layer pages, layers.md and its figure, for those layers)

The CLI parses arguments, draws progress bars and prints; :mod:`bntheory.pipeline` runs the
work and writes the files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from bntheory.errors import BNTheoryError


def _layers(args: argparse.Namespace) -> int:
    from bntheory.norms import get_layer, layer_names

    rows = [
        {"name": n, "title": get_layer(n).title, **get_layer(n).provides()} for n in layer_names()
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    cols = ["name", "title", "symbolic", "jvp", "vjp", "hvp", "torch_counterpart"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    print("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    return 0


def _check(args: argparse.Namespace) -> int:
    from bntheory.verify.battery import LayerCheckError, check_layer

    status = 0
    for name in args.names:
        try:
            result = check_layer(name, device=args.device, seed=args.seed, quick=not args.full)
        except LayerCheckError as exc:
            print(f"FAILED: {exc}")
            status = 1
            continue
        print(result.summary())
    return status


def _prove(args: argparse.Namespace) -> int:
    from bntheory.symbolic import catalogue

    proofs = catalogue.select(catalogue.load_proofs(args.proofs), args.names)
    results = []
    for proof in tqdm(
        proofs, desc="proofs", unit="proof", file=sys.stderr, disable=len(proofs) < 2
    ):
        results.append(proof.run())
    width = max(len(r.proof.id) for r in results)
    print(f"{'proof'.ljust(width)}  steps  result  seconds")
    for r in results:
        verdict = "ok" if r.ok else f"FAILED (steps {', '.join(map(str, r.failed_steps))})"
        print(f"{r.proof.id.ljust(width)}  {len(r.proof.steps):5d}  {verdict:6s}  {r.seconds:7.2f}")
    return 0 if all(r.ok for r in results) else 1


def _bar(items, desc: str = "", unit: str = "it"):
    """The CLI's progress bar (tqdm on stderr) for the pipeline's stages."""
    return tqdm(items, desc=desc, unit=unit, file=sys.stderr)


def _step_bars(cfg):
    """A training run's step callback and the function that closes its bar."""
    bar = tqdm(total=cfg.steps, desc=f"{cfg.norm}, lr {cfg.lr:g}", unit="step", file=sys.stderr)
    done = [0]

    def step(k: int, total: int) -> None:
        bar.update(k - done[0])
        done[0] = k

    return step, bar.close


def _search(args: argparse.Namespace) -> int:
    from bntheory import pipeline

    def bar(it):
        return tqdm(list(it), desc=f"search {args.statement}", unit="start", file=sys.stderr)

    res = pipeline.search(
        args.statement,
        args.regime,
        args.objective,
        m=args.m,
        eps_ratio=args.eps_ratio,
        starts=args.starts,
        maxfun=args.budget,
        seed=args.seed,
        json_path=args.json,
        progress=bar,
    )
    print(
        f"{res.statement} ({args.regime}, m={args.m}, eps/var={res.eps_ratio:g}): {args.objective} "
        f"{res.value:.6g} after {res.evaluations} evaluations in {res.starts} starts"
    )
    if res.case is not None:
        print(
            f"  lhs {res.lhs:.10g}  rhs {res.rhs:.10g}  (rounding allows {res.tolerance:.3g}); "
            f"re-checked by autograd: {'VIOLATED' if res.violated else 'not violated'}"
        )
    if res.minimal:
        mn = res.minimal
        print(
            f"  minimal: m={mn['m']}, {mn['digits']} significant digit(s), {mn['distinct_values']} "
            f"distinct values, "
            f"violation {mn['violation']:.3g}"
        )
    if args.json:
        print(f"wrote {args.json}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from bntheory import pipeline
    from bntheory.report.files import ReportDir
    from bntheory.report.meta import provenance
    from bntheory.report.verdicts import verdict_word

    out = ReportDir(args.out)
    if args.sweep:
        meta = provenance(["bntheory"] + list(args.argv), args.seed, "cpu")
        bar = lambda it, d, u: tqdm(it, desc=d, unit=u, file=sys.stderr, leave=False)
        written, results = pipeline.sweep(out, args.sweep, args.m, args.seed, meta, bar)
        for res in results:
            print(
                f"{res.id:20s} {res.regime:6s} {res.violations:9d} / {res.cases} violated   "
                f"worst {res.worst_violation:.3g}"
            )
    else:
        meta = provenance(["bntheory"] + list(args.argv), args.seed, "cpu")
        written, verdicts = pipeline.verify(
            out, args.profile, args.tightness, args.seed, args.jobs, meta, _bar
        )
        width = max(len(v.id) for v in verdicts)
        for v in verdicts:
            print(f"{v.id.ljust(width)}  {v.regime:6s}  {verdict_word(v)}")
    for rel in written:
        print(f"wrote {out.root / rel}")
    return 0


def _torch_check(args: argparse.Namespace) -> int:
    import torch

    from bntheory import pipeline
    from bntheory.report.files import ReportDir
    from bntheory.report.meta import provenance
    from bntheory.report.torch import largest_error, script_name

    if args.device == "cuda" and not torch.cuda.is_available():
        raise BNTheoryError(
            "--device cuda: no CUDA device is available (torch.cuda.is_available() is False)"
        )
    meta = provenance(["bntheory"] + list(args.argv), 0, args.device)
    out = ReportDir(args.out) if args.out else None
    written, verdicts = pipeline.torch_check(
        out, args.device, args.profile, args.jobs, meta, args.function, args.route, _bar
    )
    width = max(len(v.id) for v in verdicts)
    print(f"torch {torch.__version__} on {args.device}, profile {args.profile}")
    for v in verdicts:
        err = largest_error(v)
        shown = "—" if err is None else f"{err:.3g}"
        print(f"{v.id.ljust(width)}  {v.verdict:8s}  largest error / allowed {shown}")
    refuted = [v for v in verdicts if v.verdict == "refuted"]
    print(f"{len(refuted)} of {len(verdicts)} routes refuted")
    for rel in written:
        print(f"wrote {out.root / rel}")
    if refuted and out is not None:
        print("repro scripts: " + ", ".join(str(out.root / script_name(v)) for v in refuted))
    return 1 if refuted else 0


def _print_summaries(summaries: list[dict]) -> None:
    cols = (
        "norm",
        "lr",
        "diverged_at",
        "final_test_loss",
        "loss_variation",
        "predictiveness_max",
        "beta_smoothness",
        "ics_l2",
        "ics_cos",
    )
    print("  ".join(f"{c:>18s}" for c in cols))
    for s in summaries:
        print(
            "  ".join(
                f"{s[c]:>18.4g}" if isinstance(s[c], float) else f"{str(s[c]):>18s}" for c in cols
            )
        )


def _landscape(args: argparse.Namespace) -> int:
    import torch

    from bntheory.report.files import ReportDir
    from bntheory.report.meta import provenance

    if args.device == "cuda" and not torch.cuda.is_available():
        raise BNTheoryError(
            "--device cuda: no CUDA device is available (torch.cuda.is_available() is False)"
        )
    out = Path(args.out)
    norms, lrs = _parse_lists(args)
    from bntheory import pipeline

    meta = provenance(["bntheory"] + list(args.argv), args.seed, args.device)
    written, summaries = pipeline.landscape(
        ReportDir(out),
        args.preset,
        norms,
        lrs,
        args.steps,
        args.device,
        args.seed,
        args.data,
        args.resume,
        meta,
        _step_bars,
        seeds=args.seeds,
        spectrum=args.spectrum,
    )
    for rel in written:
        print(f"wrote {out / rel}")
    _print_summaries(summaries)
    return 0


def _parse_lists(args: argparse.Namespace):
    """``--norm`` and ``--lr`` as lists (``None`` when not given)."""
    norms = [n.strip() for n in args.norm.split(",")] if args.norm else None
    try:
        lrs = [float(v) for v in args.lr.split(",")] if args.lr else None
    except ValueError:
        raise BNTheoryError(
            f"--lr must be a comma-separated list of numbers, got {args.lr!r}"
        ) from None
    return norms, lrs


def _format_seconds(t: float) -> str:
    if t < 90:
        return f"{t:.0f} s"
    if t < 5400:
        return f"{t / 60:.0f} min"
    return f"{t / 3600:.1f} h"


def _sweep(args: argparse.Namespace) -> int:
    import torch

    from bntheory import pipeline

    if args.device == "cuda" and not torch.cuda.is_available():
        raise BNTheoryError(
            "--device cuda: no CUDA device is available (torch.cuda.is_available() is False)"
        )
    norms, lrs = _parse_lists(args)
    if args.seeds < 1:
        raise BNTheoryError(f"--seeds must be at least 1, got {args.seeds}")

    def announce(todo: int, total: int, seconds: float | None, parallel: int | None) -> None:
        where = "the cluster" if parallel is None else f"{parallel} parallel worker(s)"
        eta = ""
        if seconds is not None:
            eta = f", estimated {_format_seconds(seconds)}" + (
                " of serial compute on this machine" if parallel is None else " on this machine"
            )
        print(
            f"sweep: {total} runs, {total - todo} finished before, {todo} to run on {where}{eta}",
            file=sys.stderr,
        )

    bar = lambda total, initial: tqdm(
        total=total, initial=initial, desc=f"sweep {args.preset}", unit="run", file=sys.stderr
    )
    from bntheory.report.meta import provenance

    meta = provenance(["bntheory"] + list(args.argv), args.seed, args.device)
    outcome, verdicts = pipeline.run_grid(
        args.preset,
        range(args.seed, args.seed + args.seeds),
        norms,
        lrs,
        args.steps,
        args.device,
        args.data,
        Path(args.out),
        backend=args.backend,
        jobs=args.jobs,
        address=args.address,
        gpus_per_run=args.gpus_per_run,
        estimate=not args.no_estimate,
        announce=announce,
        progress=bar,
        meta=meta,
    )
    print(
        f"{outcome.started} runs run ({outcome.resumed} resumed from checkpoints, "
        f"{outcome.diverged} diverged), {outcome.skipped} finished before; "
        f"wrote {Path(args.out) / 'results.json'}"
    )
    for name, p in outcome.results["presets"].items():
        for row in p["paired"]:
            cells = []
            for m in ("loss_variation", "predictiveness_max", "beta_smoothness"):
                d = row[m]
                if d["difference"] is None:
                    cells.append(f"{m} -")
                elif d["lo"] is None:
                    cells.append(f"{m} {d['difference']:+.3g}")
                else:
                    cells.append(f"{m} {d['difference']:+.3g} [{d['lo']:+.3g}, {d['hi']:+.3g}]")
            print(f"{name} lr {row['lr']:g} {row['norm']} - none: " + "; ".join(cells))
    if verdicts:
        from bntheory.report.verdicts import verdict_word

        width = max(len(v.id) for v in verdicts)
        for v in verdicts:
            print(f"{v.id.ljust(width)}  {v.regime}: {verdict_word(v)}")
        print(f"wrote {Path(args.out) / 'claims.json'}")
    return 0


def _report(args: argparse.Namespace) -> int:
    import torch

    from bntheory import pipeline
    from bntheory.norms import get_layer
    from bntheory.report.files import ReportDir
    from bntheory.report.meta import provenance

    if args.device == "cuda" and not torch.cuda.is_available():
        raise BNTheoryError(
            "--device cuda: no CUDA device is available (torch.cuda.is_available() is False)"
        )
    for n in args.layer or ():
        get_layer(n)  # unknown names fail before any work
    plan = pipeline.ReportPlan(
        seed=args.seed,
        device=args.device,
        quick=args.quick,
        profile=args.verify_profile,
        jobs=args.jobs,
        layers=args.layer,
        proofs_dir=args.proofs,
    )
    out = ReportDir(args.out)
    meta = provenance(["bntheory"] + list(args.argv), args.seed, args.device)
    runs_bar = lambda total, initial: tqdm(
        total=total, initial=initial, desc="landscape runs", unit="run", file=sys.stderr
    )
    written, failures = pipeline.report(out, plan, meta, _bar, runs_bar)
    for note in out.notes:
        print(f"note: {note}", file=sys.stderr)
    for rel in written:
        print(f"wrote {out.root / rel}")
    if failures:
        print(
            f"error: {failures} closed-form comparisons, symbolic checks or proofs failed; see "
            f"{out.root / 'layers.md'} and {out.root / 'derivations'}",
            file=sys.stderr,
        )
        return 1
    return 0


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--jobs must be a whole number >= 1, got {text!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser with its subcommands."""
    parser = argparse.ArgumentParser(prog="bntheory", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("layers", help="list registered layers and what each provides")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_layers)

    p = sub.add_parser("prove", help="run the executable proofs and print a table")
    p.add_argument("names", nargs="*", metavar="NAME", help="proof ids (default: all)")
    p.add_argument(
        "--proofs", default=None, help="proofs directory (default: the checkout's proofs/)"
    )
    p.set_defaults(func=_prove)

    p = sub.add_parser("verify", help="discover the verdict of every catalogued claim")
    p.add_argument(
        "--profile",
        default="ci",
        choices=("quick", "ci", "thorough"),
        help="search budget (default: ci)",
    )
    p.add_argument("--out", default="reports", help="directory for verdicts.json and verdicts.md")
    p.add_argument(
        "--sweep",
        type=int,
        default=0,
        metavar="N",
        help="instead, a vectorised random campaign of N cases per statement and regime "
        "(writes sweep.json)",
    )
    p.add_argument(
        "--m", type=int, default=64, help="batch size of the sweep's cases (default: 64)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the sweep and the worst-case search (default: 0)",
    )
    p.add_argument(
        "--tightness",
        action="store_true",
        help="also search each statement's tightness and worst case over m and eps/var (minutes)",
    )
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="worker processes for the verdicts and worst-case studies, one thread each "
        "(default: 1; the results do not depend on it)",
    )
    p.set_defaults(func=_verify)

    p = sub.add_parser(
        "search", help="worst case (largest violation) or tightness (sup lhs/rhs) of one statement"
    )
    p.add_argument("statement", help="statement id, e.g. thm1.arxiv (see `bntheory verify`)")
    p.add_argument("--m", type=int, default=4, help="batch size of the cases (default: 4)")
    p.add_argument("--regime", default="eps>0", choices=("eps=0", "eps>0"), help="default: eps>0")
    p.add_argument(
        "--eps-ratio", type=float, default=None, help="eps / var in the eps>0 regime (default: 0.1)"
    )
    p.add_argument(
        "--objective",
        default="violation",
        choices=("violation", "tightness"),
        help="default: violation",
    )
    p.add_argument("--starts", type=int, default=8, help="random starts of L-BFGS-B (default: 8)")
    p.add_argument(
        "--budget", type=int, default=300, help="objective evaluations per start (default: 300)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the starts (default: 0)")
    p.add_argument(
        "--json", default=None, metavar="PATH", help="also write the result as JSON (atomically)"
    )
    p.set_defaults(func=_search)

    from bntheory.landscape.presets import PRESETS

    p = sub.add_parser(
        "landscape", help="train with each normalization and probe the loss landscape"
    )
    p.add_argument("--preset", required=True, choices=tuple(PRESETS))
    p.add_argument(
        "--norm", default=None, help="comma-separated normalizations (default: the preset's)"
    )
    p.add_argument(
        "--lr", default=None, help="comma-separated learning rates (default: the preset's)"
    )
    p.add_argument(
        "--steps", type=int, default=None, help="SGD steps per run (default: the preset's)"
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="seeds seed..seed+N-1; N > 1 also writes <preset>-seeds.json: means with 95%% "
        "bootstrap intervals, and each norm against none paired by seed",
    )
    p.add_argument(
        "--data",
        default=None,
        help="data directory (cifar10-vgg: a local CIFAR-10, python-pickle layout)",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue runs from their checkpoints under --out"
    )
    p.add_argument(
        "--spectrum",
        action="store_true",
        help="also probe the Hessian's spectrum (top eigenpairs, SLQ density, outliers, "
        "gradient share; train mode, and eval mode where the network has running statistics) "
        "where the preset does not already",
    )
    p.add_argument(
        "--out", required=True, help="output directory (runs/, <preset>.md, .json and figures)"
    )
    p.set_defaults(func=_landscape)

    p = sub.add_parser(
        "sweep",
        help="a preset's grid of runs over norms, learning rates and seeds, locally or on Ray "
        "(resumable)",
    )
    p.add_argument("--preset", required=True, choices=tuple(PRESETS))
    p.add_argument(
        "--norm", default=None, help="comma-separated normalizations (default: the preset's)"
    )
    p.add_argument(
        "--lr", default=None, help="comma-separated learning rates (default: the preset's)"
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds seed..seed+N-1 (default: 3)")
    p.add_argument("--seed", type=int, default=0, help="the first seed (default: 0)")
    p.add_argument(
        "--steps", type=int, default=None, help="SGD steps per run (default: the preset's)"
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument(
        "--data",
        default=None,
        help="data: a local CIFAR-10 directory (python-pickle layout) or 'synthetic' "
        "(santurkar2018, cifar10-vgg)",
    )
    p.add_argument(
        "--backend",
        default="local",
        choices=("local", "ray"),
        help="local worker processes (default) or one Ray task per run",
    )
    p.add_argument(
        "--address",
        default=None,
        help="join the Ray cluster at HOST:PORT (or 'auto'); default: start a local one",
    )
    p.add_argument(
        "--gpus-per-run", type=float, default=0.0, help="GPUs Ray gives each run (default: 0)"
    )
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="parallel runs on this machine: local workers, or the CPUs of the local Ray "
        "cluster (default: 1; the results do not depend on it)",
    )
    p.add_argument(
        "--no-estimate", action="store_true", help="do not time a few steps to estimate the ETA"
    )
    p.add_argument(
        "--out",
        required=True,
        help="sweep directory: runs/, sweep.json, status.json, results.json (re-run to resume)",
    )
    p.set_defaults(func=_sweep)

    p = sub.add_parser("check", help="run the whole battery of checks on registered layers")
    p.add_argument("names", nargs="+", metavar="NAME", help="layer names (see `bntheory layers`)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device (default: cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of the cases (default: 0)")
    p.add_argument(
        "--full", action="store_true", help="the report's full set of cases (default: quick)"
    )
    p.set_defaults(func=_check)

    p = sub.add_parser(
        "torch-check",
        help="check PyTorch's autodiff routes through its normalization functions",
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device (default: cpu)")
    p.add_argument(
        "--profile",
        default="quick",
        choices=("quick", "ci", "thorough"),
        help="search budget (default: quick; make report uses ci)",
    )
    p.add_argument(
        "--function", action="append", help="only this function (repeatable), e.g. layer_norm"
    )
    p.add_argument("--route", action="append", help="only this route (repeatable), e.g. jvp-jacrev")
    p.add_argument(
        "--out",
        default=None,
        help="write torch/index.md, data/torch.json and the repro scripts under this directory",
    )
    p.add_argument(
        "--jobs", type=_jobs, default=1, metavar="N", help="worker processes (default: 1)"
    )
    p.set_defaults(func=_torch_check)

    p = sub.add_parser("report", help="measure and write the report under --out")
    p.add_argument("--out", default="reports", help="output directory (default: reports)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default: 0)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device (default: cpu)")
    p.add_argument("--layer", action="append", metavar="NAME", help="only this layer (repeatable)")
    p.add_argument(
        "--proofs", default=None, help="proofs directory (default: the checkout's proofs/)"
    )
    p.add_argument(
        "--verify-profile",
        default="ci",
        choices=("quick", "ci", "thorough"),
        help="search budget of the theorem verdicts (default: ci)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small budgets everywhere (verdicts: quick profile; worst cases: a small grid)",
    )
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="worker processes for the verdicts and worst-case studies, one thread each "
        "(default: 1; the results do not depend on it)",
    )
    p.set_defaults(func=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` and return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except BNTheoryError as exc:
        print(f"bntheory: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
