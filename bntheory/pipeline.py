"""The report's stages, in one place: what each command computes and which files it writes.

``bntheory report`` runs, in order: the layer checks (closed forms against autograd and SymPy,
the theorems' analogues across layers), the executable proofs, the landscape presets, the
verdict of every catalogued claim in every regime, the worst-case studies of the claims whose
judge has one, and the pages.  :func:`report_files` lists every file the report owns before
any work starts, so a user's file in the way is refused at once.

Stages take a ``progress(iterable, desc, unit)`` callable for their progress bars (the CLI's
``tqdm``); library code prints nothing.  Verdicts travel between worker processes as their
JSON records and come back typed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bntheory.claims import claims, get_claim
from bntheory.claims.model import Verdict
from bntheory.pool import run_all, workers

Progress = Callable[..., Iterable]

#: The landscape presets the report runs (``quick``: the smoke preset only).
REPORT_PRESETS = ("digits", "layers", "dln", "lr-grid", "sigmoid", "tanh")
#: The pages and data of the layer checks.
LAYER_FILES = ("layers.md", "data/layers.json")
#: Where the verdicts go: ``bntheory verify`` writes them side by side, the report keeps the
#: JSON under ``data/`` (arguments of :func:`~bntheory.report.verdicts.write_verdicts`).
VERIFY_FILES = {
    "claims_name": "claims.json",
    "json_name": "verdicts.json",
    "md_name": "verdicts.md",
}
REPORT_VERDICT_FILES = {
    "claims_name": "data/claims.json",
    "json_name": "data/verdicts.json",
    "md_name": "verdicts.md",
}


def no_progress(items: Iterable, desc: str = "", unit: str = "") -> Iterable:
    """A progress callable that shows nothing."""
    return items


def _judge_job(job: tuple[str, str, str]) -> dict:
    claim_id, regime, profile = job
    return get_claim(claim_id).verdict(regime, profile).to_json()


def _study_job(job: tuple[dict, bool, int]) -> dict:
    record, quick, seed = job
    v = Verdict.from_json(record)
    return get_claim(v.id).judge.study(v, quick, seed).to_json()


def judge_all(
    profile: str,
    pool=None,
    progress: Progress = no_progress,
    select: Callable[[Any, str], bool] | None = None,
) -> list[Verdict]:
    """Every catalogued claim in each of its regimes, in catalogue order (with ``select``,
    the ``(claim, regime)`` pairs it accepts)."""
    jobs = [
        (c.id, r, profile) for c in claims() for r in c.regimes if select is None or select(c, r)
    ]
    done = run_all(_judge_job, jobs, pool, progress, "verify", "claim")
    return [Verdict.from_json(d) for d in done]


def torch_check(
    out,
    device: str,
    profile: str,
    jobs: int,
    meta: dict,
    functions: Sequence[str] | None = None,
    route_ids: Sequence[str] | None = None,
    progress: Progress = no_progress,
) -> tuple[list[str], list[Verdict]]:
    """``bntheory torch-check``: the ``torch.<function>.<route>`` claims judged on ``device``
    (all, or those of ``functions`` and ``route_ids``); with ``out`` (a
    :class:`~bntheory.report.files.ReportDir`) the page, its JSON and the repro scripts are
    written there."""
    from bntheory.errors import InvalidArgumentError
    from bntheory.report.torch import PAPER, parts
    from bntheory.verify.routes import FUNCTIONS, ROUTES

    for name, given, known in (("function", functions, FUNCTIONS), ("route", route_ids, ROUTES)):
        unknown = sorted(set(given or ()) - set(known))
        if unknown:
            raise InvalidArgumentError(
                f"torch-check: unknown {name} {', '.join(unknown)}; known: {', '.join(known)}"
            )

    def select(c, regime: str) -> bool:
        if c.info.paper != PAPER or regime != device:
            return False
        function, route = parts(c.id)
        return (not functions or function in functions) and (not route_ids or route in route_ids)

    with workers(jobs) as pool:
        verdicts = judge_all(profile, pool, progress, select)
    if not verdicts:
        raise InvalidArgumentError(f"torch-check: no route claim is judged on {device!r}")
    written: list[str] = []
    if out is not None:
        from bntheory.report.torch import write_torch

        written = write_torch(out, verdicts, meta)
    return written, verdicts


def study_all(
    verdicts: list[Verdict], quick: bool, seed: int, pool=None, progress: Progress = no_progress
) -> list[Verdict]:
    """``verdicts`` with the worst-case study of every claim whose judge has one."""
    todo = [i for i, v in enumerate(verdicts) if get_claim(v.id).studied]
    jobs = [(verdicts[i].to_json(), quick, seed) for i in todo]
    done = run_all(_study_job, jobs, pool, progress, "worst cases", "claim")
    out = list(verdicts)
    for i, d in zip(todo, done):
        out[i] = Verdict.from_json(d)
    return out


def sweep_all(n: int, m: int, seed: int, progress: Progress = no_progress) -> list[Any]:
    """The vectorised random campaign of every claim whose judge has one."""
    results = []
    for c in claims():
        if not hasattr(c.judge, "sweep"):
            continue
        for r in c.regimes:
            bar = lambda it, d=f"sweep {c.id} {r}": progress(list(it), d, "chunk")
            results.append(c.judge.sweep(r, n, m=m, seed=seed, progress=bar))
    return results


def search(
    statement_id: str,
    regime: str,
    objective: str,
    json_path: str | None = None,
    progress: Progress = no_progress,
    **options,
):
    """``bntheory search``: the worst-case search of one statement
    (:func:`bntheory.search.search`), written atomically to ``json_path`` when given (an
    existing file is refused before the search, never overwritten)."""
    import json

    from bntheory.atomic import atomic_write
    from bntheory.errors import BNTheoryError
    from bntheory.search import search as run_search
    from bntheory.theorems.catalogue import get_statement

    statement = get_statement(statement_id)
    if json_path and Path(json_path).exists():
        raise BNTheoryError(
            f"--json {json_path} exists; choose another path or remove it (nothing is overwritten)"
        )
    res = run_search(statement, regime, objective, progress=progress, **options)
    if json_path:
        atomic_write(Path(json_path), json.dumps(res.to_json(), indent=1) + "\n")
    return res


def verify(
    out,
    profile: str,
    tightness: bool,
    seed: int,
    jobs: int,
    meta: dict,
    progress: Progress = no_progress,
) -> tuple[list[str], list[Verdict]]:
    """``bntheory verify``: every claim's verdict (and with ``tightness`` the studies) written
    to ``claims.json``, ``verdicts.json`` and ``verdicts.md`` under ``out``."""
    from bntheory.report.verdicts import write_verdicts

    for rel in VERIFY_FILES.values():
        out.check(rel)
    with workers(jobs) as pool:
        verdicts = judge_all(profile, pool, progress)
        if tightness:
            verdicts = study_all(
                verdicts, quick=profile == "quick", seed=seed, pool=pool, progress=progress
            )
    return write_verdicts(out, verdicts, meta, profile, **VERIFY_FILES), verdicts


def sweep(
    out, n: int, m: int, seed: int, meta: dict, progress: Progress = no_progress
) -> tuple[list[str], list[Any]]:
    """``bntheory verify --sweep N``: every campaign (:func:`sweep_all`) in ``sweep.json``."""
    import json

    out.check("sweep.json")
    results = sweep_all(n, m, seed, progress)
    doc = {"schema": 1, "meta": meta, "m": m, "results": [r.to_json() for r in results]}
    out.write("sweep.json", json.dumps(doc, indent=1) + "\n")
    return ["sweep.json"], results


@dataclass
class ReportPlan:
    """What one ``bntheory report`` run does: its settings and the files it owns."""

    seed: int = 0
    device: str = "cpu"
    quick: bool = False
    profile: str = "ci"
    jobs: int = 1
    layers: list[str] | None = None  # only the layer pages, for these layers
    proofs_dir: str | None = None
    presets: tuple[str, ...] = field(default=REPORT_PRESETS)

    def __post_init__(self) -> None:
        if self.quick:
            self.presets = ("smoke",)
            self.profile = "quick"


def report_files(plan: ReportPlan, proof_ids: list[str]) -> list[str]:
    """Every file the report run of ``plan`` owns, relative to its root."""
    from bntheory.report.figures import TIGHTNESS_FIGURE
    from bntheory.report.landscape import FIGURES, SEED_FIGURE, SPECTRUM_FIGURE
    from bntheory.report.layers import FIGURE as LAYER_FIGURE
    from bntheory.report.measured import grid_names
    from bntheory.report.spectrum import files as spectrum_files
    from bntheory.report.theorems import claim_files
    from bntheory.report.torch import DATA as TORCH_DATA
    from bntheory.report.torch import PAGE as TORCH_PAGE
    from bntheory.report.torch import PAPER as TORCH_PAPER
    from bntheory.report.torch import script_files

    owned = list(LAYER_FILES) + [f"{LAYER_FIGURE}.{ext}" for ext in ("png", "svg")]
    if plan.layers:
        return owned
    owned += ["derivations/README.md", "data/proofs.json"]
    owned += [f"derivations/{p}.md" for p in proof_ids]
    owned += list(REPORT_VERDICT_FILES.values())
    owned += [f"{TIGHTNESS_FIGURE}.{ext}" for ext in ("png", "svg")] + ["index.md", "bntheory.tex"]
    for c in claims():
        owned += claim_files(c.id, c.studied, c.judge.kind == "measured")
    owned += [f"tables/{t}.md" for t in grid_names(c.info for c in claims())]
    route_claims = [c for c in claims() if c.info.paper == TORCH_PAPER]
    owned += [TORCH_PAGE, TORCH_DATA] + script_files(
        [c.id for c in route_claims],
        tuple(dict.fromkeys(r for c in route_claims for r in c.regimes)),
    )
    owned += spectrum_files()
    for name in plan.presets:
        owned += [f"landscape/{name}.md", f"data/landscape-{name}.json"]
        figs = [fig for fig, _ in FIGURES] + [SEED_FIGURE, SPECTRUM_FIGURE]
        owned += [f"landscape/{name}-{fig}.{ext}" for fig in figs for ext in ("png", "svg")]
    return owned


def layer_stage(
    out, plan: ReportPlan, meta: dict, progress: Progress
) -> tuple[list[str], int, list[dict]]:
    """``layers.md``, its JSON and figure: closed forms, symbolic checks, theorem analogues;
    the files written, the number of failed comparisons, and the analogues."""
    from bntheory.norms import get_layer, layer_names
    from bntheory.report.layers import write_layers
    from bntheory.verify.analogues import measure_analogues
    from bntheory.verify.closed_forms import ERROR_MODEL_SUMMARY, measure_layer
    from bntheory.verify.symbolic_check import check_symbolic

    summaries, symbolic, analogues = [], {}, []
    for layer in [get_layer(n) for n in plan.layers or layer_names()]:

        def bar(it, n=layer.name, what="closed forms"):
            return progress(list(it), f"{what}: {n}", "case")

        summaries.append(
            measure_layer(
                layer, seed=plan.seed, device=plan.device, progress=bar, quick=plan.quick
            ).to_json()
        )
        sizes = (2, 3) if plan.quick else (2, 3, 4)
        checks = check_symbolic(layer, seed=plan.seed, device=plan.device, sizes=sizes)
        symbolic[layer.name] = {
            "comparisons": len(checks),
            "failures": sum(not c.ok for c in checks),
            "max_ratio": max([c.max_ratio for c in checks], default=0.0),
        }
        analogues.append(
            measure_analogues(
                layer,
                seed=plan.seed,
                device=plan.device,
                sizes=(4, 16) if plan.quick else (4, 16, 64),
                progress=lambda it, n=layer.name: bar(it, n, "theorem analogues"),
            ).to_json()
        )
    written = write_layers(out, summaries, meta, ERROR_MODEL_SUMMARY, symbolic, analogues)
    failures = sum(op["failures"] for s in summaries for op in s["ops"])
    failures += sum(s["failures"] for s in symbolic.values())
    return written, failures, analogues


def with_spectrum(cfg):
    """``cfg`` with spectrum probes: the preset's schedule where it has one, else at every
    Hessian probe, else at the start and the end (every ``steps`` steps)."""
    from dataclasses import replace

    every = cfg.spectrum_every or cfg.hessian_every or cfg.steps
    return replace(cfg, spectrum_every=every, probe_every=cfg.probe_every or every)


def run_preset(
    name: str,
    out_runs: Path,
    norms,
    lrs,
    steps,
    device: str,
    seed: int,
    data_dir: str | None,
    resume: bool,
    progress_steps=None,
    spectrum: bool = False,
):
    """Train every (norm, lr) run of a preset under ``out_runs``; the preset's description,
    the runs and their summaries.  ``progress_steps(cfg)`` gives each run's step callback and
    a function that closes its bar.  ``spectrum``: probe the Hessian's spectrum too where
    the preset does not (:func:`with_spectrum`)."""
    from bntheory.landscape.models import check_model_norm
    from bntheory.landscape.presets import get_preset
    from bntheory.landscape.summary import run_summary
    from bntheory.landscape.train import train

    preset = get_preset(name)
    for n in norms or ():
        check_model_norm(n)  # before any data is loaded
    data = preset.load(seed, data_dir)
    runs = []
    for cfg in preset.configs(norms=norms, lrs=lrs, steps=steps, device=device, seed=seed):
        cfg = with_spectrum(cfg) if spectrum else cfg
        step, close = progress_steps(cfg) if progress_steps else (None, lambda: None)
        try:
            runs.append(
                train(
                    cfg, data, out_runs / f"{cfg.norm}_lr{cfg.lr:g}", resume=resume, progress=step
                )
            )
        finally:
            close()
    info = {
        "name": preset.name,
        "description": preset.description,
        "norms": list(norms or preset.norms),
        "lrs": list(lrs or preset.lrs),
        "data": preset.base.data,
    }
    return info, runs, [run_summary(r) for r in runs]


def landscape(
    out,
    preset: str,
    norms,
    lrs,
    steps,
    device: str,
    seed: int,
    data_dir: str | None,
    resume: bool,
    meta: dict,
    progress_steps=None,
    seeds: int = 1,
    spectrum: bool = False,
) -> tuple[list[str], list[dict]]:
    """``bntheory landscape``: one preset's runs under ``out/runs`` (resumable), its page,
    figures and JSON under ``out``; the files written and the first seed's run summaries.

    ``seeds > 1``: the runs of seeds ``seed .. seed + seeds - 1`` (under ``out/runs/seed-K``),
    the page and figures of the first, and ``<preset>-seeds.json``: each measurement's mean
    over seeds with its 95 % bootstrap interval, and every normalization against ``none``
    paired by seed (:mod:`bntheory.landscape.summary`).  ``spectrum``: every run also probes
    the Hessian's spectrum (:func:`with_spectrum`), and the page shows it."""
    import json

    from bntheory.errors import InvalidArgumentError
    from bntheory.landscape.summary import paired_comparisons, seed_summaries
    from bntheory.report.landscape import write_landscape
    from bntheory.stats import LEVEL

    if seeds < 1:
        raise InvalidArgumentError(f"--seeds must be at least 1, got {seeds}")
    names = [f"{preset}.md", f"{preset}.json"] + ([f"{preset}-seeds.json"] if seeds > 1 else [])
    for rel in names:
        out.check(rel)  # before any training
    per_seed, first = {}, None
    for k in range(seed, seed + seeds):
        runs_dir = out.root / "runs" / (f"seed-{k}" if seeds > 1 else "")
        result = run_preset(
            preset,
            runs_dir,
            norms,
            lrs,
            steps,
            device,
            k,
            data_dir,
            resume,
            progress_steps,
            spectrum=spectrum,
        )
        first = first or result
        per_seed[k] = result[2]
    info, runs, summaries = first
    written = write_landscape(out, preset, info, runs, summaries, meta)
    if seeds > 1:
        has_none = any(s["norm"] == "none" for s in summaries)
        doc = {
            "meta": meta,
            "preset": info,
            "seeds": sorted(per_seed),
            "level": LEVEL,
            "summaries": seed_summaries(per_seed),
            "paired": paired_comparisons(per_seed) if has_none else [],
            "per_seed": {str(k): v for k, v in per_seed.items()},
        }
        out.write(f"{preset}-seeds.json", json.dumps(doc, indent=1) + "\n")
        written.append(f"{preset}-seeds.json")
    return written, summaries


def run_grid(
    preset: str,
    seeds,
    norms,
    lrs,
    steps,
    device: str,
    data: str | None,
    out: Path,
    backend: str = "local",
    jobs: int = 1,
    address: str | None = None,
    gpus_per_run: float = 0.0,
    estimate: bool = True,
    announce=None,
    progress=None,
    meta: dict | None = None,
):
    """``bntheory sweep``: plan the grid (:func:`bntheory.landscape.sweep.plan`), say how many
    runs are left and, with ``estimate``, how long they take on this machine
    (``announce(todo, total, seconds, parallel)``; ``parallel`` is ``None`` on a cluster,
    whose size decides, and ``seconds`` then the serial time), run them
    (:func:`bntheory.landscape.sweep.run_sweep`) and judge the empirical claims the runs
    support (written to ``claims.json`` beside ``results.json``); the
    :class:`~bntheory.landscape.sweep.SweepOutcome` and the verdicts."""
    from bntheory.landscape import sweep as engine

    specs = engine.plan(preset, seeds, norms, lrs, steps, device, data)
    engine.check_backend(backend, jobs, address, gpus_per_run)  # before anything is written
    engine.prepare(out, specs)  # refuse another grid's directory before timing anything
    todo = [s for s in specs if not engine.is_finished(out, s)]
    # on a cluster its size decides: the estimate is then the serial time (parallel None)
    parallel = max(1, min(jobs, len(todo))) if address is None else None
    if announce is not None:
        seconds = engine.estimate_seconds(todo, parallel or 1) if estimate and todo else None
        announce(len(todo), len(specs), seconds, parallel)
    outcome = engine.run_sweep(
        specs,
        out,
        backend=backend,
        jobs=jobs,
        address=address,
        gpus_per_run=gpus_per_run,
        progress=progress,
    )
    verdicts = judge_runs_all(outcome.results["presets"], {"profile": "sweep"})
    if verdicts:
        import json

        from bntheory.atomic import atomic_write
        from bntheory.report.verdicts import claims_json

        doc = claims_json(verdicts, meta or {}, "sweep")
        atomic_write(Path(out) / "claims.json", json.dumps(doc, indent=1) + "\n")
    return outcome, verdicts


def preset_info(name: str, norms=None, lrs=None) -> dict:
    """A preset's description for its page: name, description, norms, lrs, data."""
    from bntheory.landscape.presets import get_preset

    preset = get_preset(name)
    return {
        "name": preset.name,
        "description": preset.description,
        "norms": list(norms or preset.norms),
        "lrs": list(lrs or preset.lrs),
        "data": preset.base.data,
    }


def judge_runs_all(presets: dict, provenance: dict) -> list[Verdict]:
    """Every catalogued claim judged from training runs, in each regime ``presets`` (a
    sweep's aggregate, ``results.json``'s ``presets``) supports."""
    out = []
    for c in claims():
        if hasattr(c.judge, "judge_runs"):
            out += c.judge.judge_runs(c, presets, provenance)
    return out


def in_catalogue_order(verdicts: list[Verdict]) -> list[Verdict]:
    """``verdicts`` sorted by their claim's place in the catalogue (stable within a claim)."""
    rank = {c.id: i for i, c in enumerate(claims())}
    return sorted(verdicts, key=lambda v: rank[v.id])


def landscape_stage(
    out, plan: ReportPlan, meta: dict, progress_runs=None
) -> tuple[list[str], dict, dict]:
    """Every preset of the plan over the profile's seeds (:data:`bntheory.claims.runs.RUN_SEEDS`),
    run by the sweep engine on ``plan.jobs`` local workers in a temporary directory
    (checkpoints do not belong in the report); each preset's page with its section over
    seeds.  The files written, the summaries over seeds by preset, and the sweep's
    aggregate by preset (what the empirical claims are judged from)."""
    import json

    from bntheory.claims.runs import RUN_SEEDS
    from bntheory.landscape import sweep as engine
    from bntheory.landscape.summary import run_summary
    from bntheory.report.landscape import write_landscape

    seeds = list(range(plan.seed, plan.seed + RUN_SEEDS[plan.profile]))
    specs = [s for name in plan.presets for s in engine.plan(name, seeds, device=plan.device)]
    tmp = Path(tempfile.mkdtemp(prefix="bntheory-landscape-"))
    written, summaries_by = [], {}
    try:
        outcome = engine.run_sweep(specs, tmp / "sweep", jobs=plan.jobs, progress=progress_runs)
        presets = outcome.results["presets"]
        for name in plan.presets:
            seed_runs = {
                k: [
                    json.loads((engine.run_dir(tmp / "sweep", s) / "metrics.json").read_text())
                    for s in specs
                    if s.preset == name and s.seed == k
                ]
                for k in seeds
            }
            first = seed_runs[plan.seed]
            written += write_landscape(
                out,
                f"landscape/{name}",
                preset_info(name),
                first,
                [run_summary(r) for r in first],
                meta,
                json_rel=f"data/landscape-{name}.json",
                over_seeds=presets[name],
                seed_runs=seed_runs,
            )
            summaries_by[name] = presets[name]["summaries"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written, summaries_by, presets


def report(
    out, plan: ReportPlan, meta: dict, progress: Progress = no_progress, progress_runs=None
) -> tuple[list[str], int]:
    """Run every stage of ``plan`` into ``out`` (a :class:`~bntheory.report.files.ReportDir`);
    the files written and the number of failed checks and proofs."""
    from bntheory.report.derivations import proofs_json, write_derivations
    from bntheory.report.figures import TIGHTNESS_FIGURE
    from bntheory.report.spectrum import write_spectrum
    from bntheory.report.tex import document
    from bntheory.report.theorems import index_markdown, write_grid_tables, write_theorem_pages
    from bntheory.report.torch import write_torch
    from bntheory.report.verdicts import write_verdicts
    from bntheory.symbolic import catalogue

    proofs = [] if plan.layers else catalogue.load_proofs(plan.proofs_dir)
    for rel in report_files(plan, [p.id for p in proofs]):
        out.check(rel)  # refuse before the long run, not after
    written, failures, analogues = layer_stage(out, plan, meta, progress)
    if plan.layers:
        return written, failures
    results = [p.run() for p in progress(proofs, "proofs", "proof")]
    written += write_derivations(out, results, meta)
    landscape_written, landscape, presets = landscape_stage(out, plan, meta, progress_runs)
    written += landscape_written
    with workers(plan.jobs) as pool:
        verdicts = judge_all(plan.profile, pool, progress)
        verdicts = study_all(
            verdicts, quick=plan.quick, seed=plan.seed, pool=pool, progress=progress
        )
    verdicts = in_catalogue_order(verdicts + judge_runs_all(presets, {"profile": plan.profile}))
    written += write_verdicts(
        out,
        verdicts,
        meta,
        plan.profile,
        figure=TIGHTNESS_FIGURE,
        **REPORT_VERDICT_FILES,
    )
    judged = {v.id for v in verdicts}
    unjudged = tuple(c for c in claims() if c.id not in judged)
    written += write_theorem_pages(out, verdicts, meta, unjudged)
    written += write_grid_tables(out, verdicts, meta)
    written += write_torch(out, verdicts, meta)
    written += write_spectrum(out, verdicts, meta)
    out.write("index.md", index_markdown(verdicts, landscape, meta, analogues))
    out.write(
        "bntheory.tex", document(verdicts, proofs_json(results, meta), landscape, meta, analogues)
    )
    written += ["index.md", "bntheory.tex"]
    failures += sum(not r.ok for r in results)
    return written, failures
