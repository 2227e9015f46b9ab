"""The ``bntheory`` command.

    bntheory layers [--json]                 list registered layers and what each provides
    bntheory prove [NAME ...]                run the executable proofs in proofs/
    bntheory verify [--profile ci|thorough] [--out DIR] [--tightness] [--jobs N]   judge every catalogued statement
    bntheory search STATEMENT [--m M] [--regime R] [--objective O] [--budget N]   worst case / tightness
    bntheory check NAME [--device cpu|cuda] [--full]   the whole battery of checks on a registered layer
    bntheory report [--out DIR] [--seed N] [--device cpu|cuda] [--layer NAME ...] [--quick] [--jobs N]
        (with --layer: only the layer pages, layers.md and its figure, for those layers)

The CLI is the only place that prints, draws progress bars and writes files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from bntheory.errors import BNTheoryError


def _layers(args: argparse.Namespace) -> int:
    from bntheory.norms import get_layer, layer_names

    rows = [{"name": n, "title": get_layer(n).title, **get_layer(n).provides()} for n in layer_names()]
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
    from bntheory.testing.battery import LayerCheckError, check_layer

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
    for proof in tqdm(proofs, desc="proofs", unit="proof", file=sys.stderr, disable=len(proofs) < 2):
        results.append(proof.run())
    width = max(len(r.proof.id) for r in results)
    print(f"{'proof'.ljust(width)}  steps  result  seconds")
    for r in results:
        verdict = "ok" if r.ok else f"FAILED (steps {', '.join(map(str, r.failed_steps))})"
        print(f"{r.proof.id.ljust(width)}  {len(r.proof.steps):5d}  {verdict:6s}  {r.seconds:7.2f}")
    return 0 if all(r.ok for r in results) else 1


def _one_thread() -> None:
    """Initializer of a worker process: one thread in every pool it has
    (:func:`bntheory.threads.limit_threads`), so that ``jobs`` workers share the cores instead
    of spin-waiting on each other's threads (with SciPy's OpenBLAS at two threads, two workers
    on two cores ran no faster than one)."""
    from bntheory.threads import limit_threads

    limit_threads(1)


def _workers(jobs: int):
    """A pool of ``jobs`` spawned worker processes (spawned, not forked: a fork of a process
    whose OpenMP threads exist may hang) as a context manager; for ``jobs <= 1`` a context
    that gives ``None`` (run in this process)."""
    if jobs <= 1:
        return contextlib.nullcontext(None)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_one_thread)


def _map(fn, items: list, pool, desc: str, unit: str) -> list:
    """``[fn(item) for item in items]`` with a progress bar, in ``pool`` when there is one
    (results in the order of ``items`` whichever worker finished first)."""
    bar = dict(desc=desc, unit=unit, file=sys.stderr)
    if pool is None:
        return [fn(item) for item in tqdm(items, **bar)]
    from concurrent.futures import as_completed

    futures = [pool.submit(fn, item) for item in items]
    try:
        for done in tqdm(as_completed(futures), total=len(futures), **bar):
            done.result()  # a failed job stops the run now, not after the others
    except BaseException:  # an error or Ctrl-C: drop the jobs not yet started
        for f in futures:
            f.cancel()
        raise
    return [f.result() for f in futures]


def _judge_one(job: tuple[str, str, str]) -> dict:
    from bntheory.theorems.catalogue import get_statement
    from bntheory.verify.verdicts import judge

    sid, regime, profile = job
    return judge(get_statement(sid), regime, profile).to_json()


def _study_one(job: tuple[dict, bool, int]) -> dict:
    from bntheory.search.study import StudyGrid, attach
    from bntheory.theorems.catalogue import get_statement

    verdict, quick, seed = job
    return attach(verdict, get_statement(verdict["id"]), StudyGrid.quick() if quick else StudyGrid(), seed=seed)


def _judge_all(profile: str, pool=None) -> list[dict]:
    """Every catalogued statement in both regimes, then Lemma 4.5 (settled exactly)."""
    from bntheory.theorems import lemma45
    from bntheory.theorems.catalogue import REGIMES, STATEMENTS

    jobs = [(s.id, r, profile) for s in STATEMENTS for r in REGIMES]
    return _map(_judge_one, jobs, pool, "verify", "statement") + lemma45.verdicts()


def _study_all(verdicts: list[dict], quick: bool, seed: int, pool=None) -> None:
    """Attach ``tightness`` and ``worst_case`` to every catalogued statement's verdict."""
    from bntheory.theorems.catalogue import STATEMENTS

    known = {s.id for s in STATEMENTS}
    todo = [i for i, v in enumerate(verdicts) if v["id"] in known]
    done = _map(_study_one, [(verdicts[i], quick, seed) for i in todo], pool, "worst cases", "statement")
    for i, v in zip(todo, done):
        verdicts[i] = v


def _search(args: argparse.Namespace) -> int:
    from bntheory.atomic import atomic_write
    from bntheory.search import search
    from bntheory.theorems.catalogue import get_statement

    statement = get_statement(args.statement)
    if args.json and Path(args.json).exists():
        raise BNTheoryError(f"--json {args.json} exists; choose another path or remove it (nothing is overwritten)")
    bar = lambda it: tqdm(list(it), desc=f"search {statement.id}", unit="start", file=sys.stderr)  # noqa: E731
    res = search(statement, args.regime, args.objective, m=args.m, eps_ratio=args.eps_ratio,
                 starts=args.starts, maxfun=args.budget, seed=args.seed, progress=bar)
    print(f"{statement.id} ({args.regime}, m={args.m}, eps/var={res.eps_ratio:g}): {args.objective} "
          f"{res.value:.6g} after {res.evaluations} evaluations in {res.starts} starts")
    if res.case is not None:
        print(f"  lhs {res.lhs:.10g}  rhs {res.rhs:.10g}  (rounding allows {res.tolerance:.3g}); "
              f"re-checked by autograd: {'VIOLATED' if res.violated else 'not violated'}")
    if res.minimal:
        mn = res.minimal
        print(f"  minimal: m={mn['m']}, {mn['digits']} significant digit(s), {mn['distinct_values']} distinct values, "
              f"violation {mn['violation']:.3g}")
    if args.json:
        atomic_write(Path(args.json), json.dumps(res.to_json(), indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from bntheory.report.files import ReportDir
    from bntheory.report.meta import provenance
    from bntheory.report.verdicts import write_verdicts

    out = ReportDir(args.out)
    if args.sweep:
        return _sweep(args, out)
    for rel in ("verdicts.json", "verdicts.md"):
        out.check(rel)
    with _workers(args.jobs) as pool:
        verdicts = _judge_all(args.profile, pool)
        if args.tightness:
            _study_all(verdicts, quick=args.profile == "quick", seed=args.seed, pool=pool)
    meta = provenance(["bntheory"] + list(args.argv), 0, "cpu")
    for rel in write_verdicts(out, verdicts, meta, args.profile):
        print(f"wrote {out.root / rel}")
    width = max(len(v["id"]) for v in verdicts)
    for v in verdicts:
        print(f"{v['id'].ljust(width)}  {v['regime']:6s}  {v['verdict']}")
    return 0


def _sweep(args: argparse.Namespace, out) -> int:
    from bntheory.report.meta import provenance
    from bntheory.theorems.catalogue import REGIMES, STATEMENTS
    from bntheory.verify.sweep import sweep

    out.check("sweep.json")
    results = []
    for s in STATEMENTS:
        for r in REGIMES:
            bar = lambda it, d=f"sweep {s.id} {r}": tqdm(list(it), desc=d, unit="chunk", file=sys.stderr, leave=False)  # noqa: E731
            res = sweep(s, r, args.sweep, m=args.m, seed=args.seed, progress=bar)
            results.append(res.to_json())
            print(f"{s.id:20s} {r:6s} {res.violations:9d} / {res.cases} violated   worst {res.worst_violation:.3g}")
    meta = provenance(["bntheory"] + list(args.argv), args.seed, "cpu")
    out.write("sweep.json", json.dumps({"schema": 1, "meta": meta, "m": args.m, "results": results}, indent=1) + "\n")
    print(f"wrote {out.root / 'sweep.json'}")
    return 0


def _run_preset(name: str, out_runs: Path, norms, lrs, steps, device: str, seed: int, data_dir: str | None,
                resume: bool) -> tuple[dict, list[dict], list[dict]]:
    """Train every (norm, lr) run of a preset under ``out_runs``, with a progress bar each."""
    from bntheory.landscape.presets import get_preset
    from bntheory.landscape.summary import run_summary
    from bntheory.landscape.train import train
    from bntheory.nn import check_norm

    preset = get_preset(name)
    for n in norms or ():
        check_norm(n)  # before any data is loaded
    data = preset.load(seed, data_dir)
    runs = []
    for cfg in preset.configs(norms=norms, lrs=lrs, steps=steps, device=device, seed=seed):
        bar = tqdm(total=cfg.steps, desc=f"{name}: {cfg.norm}, lr {cfg.lr:g}", unit="step", file=sys.stderr)
        done = [0]

        def progress(step: int, total: int, bar=bar, done=done) -> None:
            bar.update(step - done[0])
            done[0] = step

        try:
            runs.append(train(cfg, data, out_runs / f"{cfg.norm}_lr{cfg.lr:g}", resume=resume, progress=progress))
        finally:
            bar.close()
    info = {"name": preset.name, "description": preset.description, "norms": list(norms or preset.norms),
            "lrs": list(lrs or preset.lrs), "data": preset.base.data}
    return info, runs, [run_summary(r) for r in runs]


def _print_summaries(summaries: list[dict]) -> None:
    cols = ("norm", "lr", "diverged_at", "final_test_loss", "loss_variation", "predictiveness_max",
            "beta_smoothness", "ics_l2", "ics_cos")
    print("  ".join(f"{c:>18s}" for c in cols))
    for s in summaries:
        print("  ".join(f"{s[c]:>18.4g}" if isinstance(s[c], float) else f"{str(s[c]):>18s}" for c in cols))


def _landscape(args: argparse.Namespace) -> int:
    import torch

    from bntheory.report.files import ReportDir
    from bntheory.report.landscape import write_landscape
    from bntheory.report.meta import provenance

    if args.device == "cuda" and not torch.cuda.is_available():
        raise BNTheoryError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    out = Path(args.out)
    norms = [n.strip() for n in args.norm.split(",")] if args.norm else None
    try:
        lrs = [float(v) for v in args.lr.split(",")] if args.lr else None
    except ValueError:
        raise BNTheoryError(f"--lr must be a comma-separated list of numbers, got {args.lr!r}") from None
    pages = ReportDir(out)
    prefix = args.preset
    for ext in ("md", "json"):
        pages.check(f"{prefix}.{ext}")
    info, runs, summaries = _run_preset(args.preset, out / "runs", norms, lrs, args.steps, args.device,
                                        args.seed, args.data, args.resume)
    meta = provenance(["bntheory"] + list(args.argv), args.seed, args.device)
    for rel in write_landscape(pages, prefix, info, runs, summaries, meta):
        print(f"wrote {out / rel}")
    _print_summaries(summaries)
    return 0


def _report_pages(out, verdicts: list[dict], results, landscape: dict, meta: dict, profile: str,
                  analogues: list[dict] | None = None) -> list[str]:
    """The per-statement pages, ``index.md`` and ``bntheory.tex``."""
    from bntheory.report.derivations import proofs_json
    from bntheory.report.tex import document
    from bntheory.report.theorems import index_markdown, write_theorem_pages
    from bntheory.report.verdicts import verdicts_json

    doc = verdicts_json(verdicts, meta, profile)
    written = write_theorem_pages(out, doc, meta)
    out.write("index.md", index_markdown(doc, landscape, meta, analogues))
    out.write("bntheory.tex", document(doc, proofs_json(results, meta), landscape, meta, analogues))
    return written + ["index.md", "bntheory.tex"]


#: The landscape presets the report runs (``--quick``: the smoke preset only).
REPORT_PRESETS = ("digits", "layers", "dln")


def _report_landscape(out, args: argparse.Namespace, meta: dict, summaries_out: dict) -> list[str]:
    import shutil
    import tempfile

    from bntheory.report.landscape import write_landscape

    written = []
    for name in ("smoke",) if args.quick else REPORT_PRESETS:
        runs_dir = Path(tempfile.mkdtemp(prefix=f"bntheory-{name}-"))  # checkpoints live here, not in the report
        try:
            info, runs, summaries = _run_preset(name, runs_dir, None, None, None, args.device, args.seed, None, False)
        finally:
            shutil.rmtree(runs_dir, ignore_errors=True)
        written += write_landscape(out, f"landscape/{name}", info, runs, summaries, meta,
                                   json_rel=f"data/landscape-{name}.json")
        summaries_out[name] = summaries
    return written


def _report(args: argparse.Namespace) -> int:
    import torch

    from bntheory.norms import get_layer, layer_names
    from bntheory.report.derivations import write_derivations
    from bntheory.report.files import ReportDir
    from bntheory.report.layers import FIGURE as LAYER_FIGURE
    from bntheory.report.meta import provenance
    from bntheory.report.verdicts import write_verdicts
    from bntheory.symbolic import catalogue

    if args.device == "cuda" and not torch.cuda.is_available():
        raise BNTheoryError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    names = args.layer or layer_names()
    layers = [get_layer(n) for n in names]  # unknown names fail before any work
    out = ReportDir(args.out)
    layer_owned = ["layers.md", "data/layers.json", f"{LAYER_FIGURE}.png", f"{LAYER_FIGURE}.svg"]
    if args.layer:  # only the layer pages
        for rel in layer_owned:
            out.check(rel)
        meta = provenance(["bntheory"] + list(args.argv), args.seed, args.device)
        return _finish(out, *_report_layers(out, layers, args, meta)[:2])
    proofs = catalogue.load_proofs(args.proofs)
    owned = layer_owned + ["derivations/README.md", "data/proofs.json",
                           "data/verdicts.json", "verdicts.md", "figures/tightness.png", "figures/tightness.svg"]
    from bntheory.report.landscape import FIGURES

    from bntheory.theorems.catalogue import STATEMENTS

    owned += ["index.md", "bntheory.tex"] + [f"theorems/{s}.md" for s in [st.id for st in STATEMENTS] + ["lemma4.5"]]
    owned += [f"theorems/{st.id}-tightness.{ext}" for st in STATEMENTS for ext in ("png", "svg")]
    for name in ("smoke",) if args.quick else REPORT_PRESETS:
        owned += [f"landscape/{name}.md", f"data/landscape-{name}.json"]
        owned += [f"landscape/{name}-{fig}.{ext}" for fig, _ in FIGURES for ext in ("png", "svg")]
    for rel in owned + [f"derivations/{p.id}.md" for p in proofs]:
        out.check(rel)  # refuse before the long run, not after
    meta = provenance(["bntheory"] + list(args.argv), args.seed, args.device)
    written, failures, analogues = _report_layers(out, layers, args, meta)
    results = [p.run() for p in tqdm(proofs, desc="proofs", unit="proof", file=sys.stderr)]
    written += write_derivations(out, results, meta)
    landscape: dict[str, list[dict]] = {}
    written += _report_landscape(out, args, meta, landscape)
    profile = "quick" if args.quick else args.verify_profile
    with _workers(args.jobs) as pool:
        verdicts = _judge_all(profile, pool)
        _study_all(verdicts, quick=args.quick, seed=args.seed, pool=pool)
    written += write_verdicts(out, verdicts, meta, profile, json_name="data/verdicts.json",
                              figure="figures/tightness")
    written += _report_pages(out, verdicts, results, landscape, meta, profile, analogues)
    failures += sum(not r.ok for r in results)
    return _finish(out, written, failures)


def _finish(out, written: list[str], failures: int) -> int:
    for note in out.notes:
        print(f"note: {note}", file=sys.stderr)
    for rel in written:
        print(f"wrote {out.root / rel}")
    if failures:
        print(f"error: {failures} closed-form comparisons, symbolic checks or proofs failed; see "
              f"{out.root / 'layers.md'} and {out.root / 'derivations'}", file=sys.stderr)
        return 1
    return 0


def _report_layers(out, layers, args: argparse.Namespace, meta: dict) -> tuple[list[str], int, list[dict]]:
    """``layers.md``, its JSON and figure: closed forms, symbolic checks, theorem analogues."""
    from bntheory.report.layers import write_layers
    from bntheory.testing.symbolic_check import check_symbolic
    from bntheory.verify.analogues import measure_analogues
    from bntheory.verify.closed_forms import ERROR_MODEL_SUMMARY, measure_layer

    summaries, symbolic, analogues = [], {}, []
    for layer in layers:
        bar = lambda it, n=layer.name, what="closed forms": tqdm(  # noqa: E731
            list(it), desc=f"{what}: {n}", unit="case", file=sys.stderr)
        summaries.append(measure_layer(layer, seed=args.seed, device=args.device, progress=bar,
                                       quick=args.quick).to_json())
        checks = check_symbolic(layer, seed=args.seed, device=args.device, sizes=(2, 3) if args.quick else (2, 3, 4))
        symbolic[layer.name] = {"comparisons": len(checks), "failures": sum(not c.ok for c in checks),
                                "max_ratio": max([c.max_ratio for c in checks], default=0.0)}
        analogues.append(measure_analogues(layer, seed=args.seed, device=args.device, sizes=(4, 16) if args.quick
                                           else (4, 16, 64),
                                           progress=lambda it, n=layer.name: bar(it, n, "theorem analogues")).to_json())
    written = write_layers(out, summaries, meta, ERROR_MODEL_SUMMARY, symbolic, analogues)
    failures = sum(op["failures"] for s in summaries for op in s["ops"])
    failures += sum(s["failures"] for s in symbolic.values())
    return written, failures, analogues


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--jobs must be a whole number >= 1, got {text!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bntheory", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("layers", help="list registered layers and what each provides")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_layers)

    p = sub.add_parser("prove", help="run the executable proofs and print a table")
    p.add_argument("names", nargs="*", metavar="NAME", help="proof ids (default: all)")
    p.add_argument("--proofs", default=None, help="proofs directory (default: the checkout's proofs/)")
    p.set_defaults(func=_prove)

    p = sub.add_parser("verify", help="discover the verdict of every form of Theorems 1 and 2")
    p.add_argument("--profile", default="ci", choices=("quick", "ci", "thorough"), help="search budget (default: ci)")
    p.add_argument("--out", default="reports", help="directory for verdicts.json and verdicts.md")
    p.add_argument("--sweep", type=int, default=0, metavar="N",
                   help="instead, a vectorised random campaign of N cases per statement and regime (writes sweep.json)")
    p.add_argument("--m", type=int, default=64, help="batch size of the sweep's cases (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sweep and the worst-case search (default: 0)")
    p.add_argument("--tightness", action="store_true",
                   help="also search each statement's tightness and worst case over m and eps/var (minutes)")
    p.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                   help="worker processes for the verdicts and worst-case studies, one thread each (default: 1; "
                        "the results do not depend on it)")
    p.set_defaults(func=_verify)

    p = sub.add_parser("search", help="worst case (largest violation) or tightness (sup lhs/rhs) of one statement")
    p.add_argument("statement", help="statement id, e.g. thm1.arxiv (see `bntheory verify`)")
    p.add_argument("--m", type=int, default=4, help="batch size of the cases (default: 4)")
    p.add_argument("--regime", default="eps>0", choices=("eps=0", "eps>0"), help="default: eps>0")
    p.add_argument("--eps-ratio", type=float, default=None, help="eps / var in the eps>0 regime (default: 0.1)")
    p.add_argument("--objective", default="violation", choices=("violation", "tightness"), help="default: violation")
    p.add_argument("--starts", type=int, default=8, help="random starts of L-BFGS-B (default: 8)")
    p.add_argument("--budget", type=int, default=300, help="objective evaluations per start (default: 300)")
    p.add_argument("--seed", type=int, default=0, help="seed of the starts (default: 0)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON (atomically)")
    p.set_defaults(func=_search)

    p = sub.add_parser("landscape", help="train with each normalization and probe the loss landscape")
    p.add_argument("--preset", required=True, choices=("smoke", "digits", "layers", "dln", "cifar10-vgg"))
    p.add_argument("--norm", default=None, help="comma-separated normalizations (default: the preset's)")
    p.add_argument("--lr", default=None, help="comma-separated learning rates (default: the preset's)")
    p.add_argument("--steps", type=int, default=None, help="SGD steps per run (default: the preset's)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="data directory (cifar10-vgg: a local CIFAR-10, python-pickle layout)")
    p.add_argument("--resume", action="store_true", help="continue runs from their checkpoints under --out")
    p.add_argument("--out", required=True, help="output directory (runs/, <preset>.md, .json and figures)")
    p.set_defaults(func=_landscape)

    p = sub.add_parser("check", help="run the whole battery of checks on registered layers")
    p.add_argument("names", nargs="+", metavar="NAME", help="layer names (see `bntheory layers`)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device (default: cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of the cases (default: 0)")
    p.add_argument("--full", action="store_true", help="the report's full set of cases (default: quick)")
    p.set_defaults(func=_check)

    p = sub.add_parser("report", help="measure and write the report under --out")
    p.add_argument("--out", default="reports", help="output directory (default: reports)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default: 0)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device (default: cpu)")
    p.add_argument("--layer", action="append", metavar="NAME", help="only this layer (repeatable)")
    p.add_argument("--proofs", default=None, help="proofs directory (default: the checkout's proofs/)")
    p.add_argument("--verify-profile", default="ci", choices=("quick", "ci", "thorough"),
                   help="search budget of the theorem verdicts (default: ci)")
    p.add_argument("--quick", action="store_true",
                   help="small budgets everywhere (verdicts: quick profile; worst cases: a small grid)")
    p.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                   help="worker processes for the verdicts and worst-case studies, one thread each (default: 1; "
                        "the results do not depend on it)")
    p.set_defaults(func=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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
