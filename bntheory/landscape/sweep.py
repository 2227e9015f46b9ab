r"""The sweep engine: a grid of training runs over normalizations, learning rates and seeds.

A sweep is a preset's grid (:func:`plan`): one :class:`RunSpec` per (seed, learning rate,
normalization).  Every run lives in ``DIR/runs/<preset>/seed-<k>/<norm>_lr<lr>/`` and is an
ordinary resumable training run (:func:`bntheory.landscape.train.train`): checkpoints written
atomically, ``metrics.json`` when it ends.  ``DIR/sweep.json`` records the grid; a sweep
started again on the same ``DIR`` skips the finished runs and resumes the others from their
checkpoints; another grid on the same ``DIR`` is refused.  ``DIR/status.json`` says what
each run is doing (``pending``, ``queued``, ``running``, ``finished``, ``diverged``,
``failed``) and how often it was started.  When every run is done, ``DIR/results.json``
aggregates them (:func:`aggregate`): the run summaries per seed, each measurement's mean
over seeds with its 95 % bootstrap interval, and every normalization against ``none``
paired by seed.  It is computed from the runs' ``metrics.json`` files alone, so it does not
depend on the backend, the number of workers, or on interruptions.

Backends (:func:`run_sweep`):

* ``local`` -- worker processes on this machine (spawned, one thread each).  A worker that
  dies (killed, out of memory) breaks the pool: the engine starts a new pool and resubmits
  the unfinished runs, which resume from their checkpoints (at most ``max_attempts`` starts
  per run).
* ``ray`` -- every run is a Ray task (Ray core, not Ray Tune: a run is already a
  self-contained, resumable function with its own checkpoints, so Tune's trial scheduler,
  search algorithms and checkpoint manager would add a second bookkeeping of the same state;
  see ``docs/architecture.md``).  ``ray.init()`` starts a local cluster unless ``address``
  names one to join; each task asks for one CPU and ``gpus_per_run`` GPUs.  A task whose
  worker dies is retried by Ray (``max_retries``) and resumes from its checkpoint.  A remote
  cluster's nodes need bntheory installed and ``DIR`` on a shared file system.

A run whose loss becomes non-finite is *diverged*: recorded (``diverged_at``), not fatal.  A
full disk raises :class:`DiskFullError` naming the path; what was written before stays.
Every run computes with one torch thread, so its numbers are those of every other backend.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bntheory.atomic import atomic_write
from bntheory.errors import BNTheoryError, InvalidArgumentError

#: Version of ``sweep.json``, ``status.json`` and ``results.json``.
SCHEMA = 1
BACKENDS = ("local", "ray")
#: Hessian-vector products the estimate assumes per top-eigenvalue probe.
HESSIAN_PRODUCTS = 20


class SweepError(BNTheoryError):
    """A sweep that cannot start or go on (another grid in its directory, an unreachable
    cluster, Ray missing, a run that failed every attempt)."""


class DiskFullError(SweepError, OSError):
    """No space left on the device while a run writes its files."""


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a preset's configuration at one normalization, learning rate and
    seed (``steps``, ``device``, ``data`` override the preset's where given)."""

    preset: str
    norm: str
    lr: float
    seed: int
    steps: int | None = None
    device: str = "cpu"
    data: str | None = None

    @property
    def key(self) -> str:
        """The run's directory relative to ``DIR/runs``."""
        return f"{self.preset}/seed-{self.seed}/{self.norm}_lr{self.lr:g}"

    def to_json(self) -> dict[str, Any]:
        """The spec as JSON."""
        return asdict(self)

    def config(self):
        """The run's :class:`~bntheory.landscape.train.RunConfig`."""
        from bntheory.landscape.presets import get_preset

        (cfg,) = get_preset(self.preset).configs(
            norms=[self.norm], lrs=[self.lr], steps=self.steps, device=self.device, seed=self.seed
        )
        if self.data == "synthetic":
            cfg = replace(cfg, data=f"synthetic images shaped like {cfg.data}")
        return cfg


def plan(
    preset: str,
    seeds,
    norms=None,
    lrs=None,
    steps: int | None = None,
    device: str = "cpu",
    data: str | None = None,
) -> list[RunSpec]:
    """The grid of a sweep: seeds (outer), then the preset's learning rates and norms in
    their order (:meth:`~bntheory.landscape.presets.Preset.configs`).  ``norms``/``lrs``
    replace the preset's own; unknown names and non-positive values raise."""
    from bntheory.landscape.models import check_model_norm
    from bntheory.landscape.presets import get_preset

    p = get_preset(preset)
    seeds = list(seeds)
    if not seeds:
        raise InvalidArgumentError("a sweep needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise InvalidArgumentError(f"seeds must be distinct, got {seeds}")
    for n in norms or ():
        check_model_norm(n)
    for lr in lrs or ():
        if not (lr > 0 and math.isfinite(lr)):
            raise InvalidArgumentError(f"learning rates must be positive numbers, got {lr}")
    if steps is not None and steps < 1:
        raise InvalidArgumentError(f"steps must be at least 1, got {steps}")
    for name, values in (("learning rates", lrs), ("normalizations", norms)):
        shown = [f"{v:g}" if name == "learning rates" else v for v in values or ()]
        if len(set(shown)) != len(shown):
            raise InvalidArgumentError(
                f"{name} must be distinct (learning rates to 6 significant digits, which name "
                f"their runs), got {', '.join(map(str, values))}"
            )
    return [
        RunSpec(preset, norm, float(lr), int(seed), steps, device, data)
        for seed in seeds
        for lr in lrs or p.lrs
        for norm in norms or p.norms
    ]


@functools.lru_cache(maxsize=4)
def _data(preset: str, seed: int, data: str | None):
    from bntheory.landscape.presets import get_preset

    return get_preset(preset).load(seed, data)


#: How often the driver looks for runs whose worker has started (seconds).
POLL_SECONDS = 0.5


def run_dir(root: Path | str, spec: RunSpec) -> Path:
    """Where ``spec``'s run lives under the sweep directory ``root``."""
    return Path(root) / "runs" / spec.key


def is_finished(root: Path | str, spec: RunSpec) -> bool:
    """Whether ``spec``'s run has ended (its ``metrics.json`` written, no checkpoint left)."""
    d = run_dir(root, spec)
    return (d / "metrics.json").is_file() and not (d / "checkpoint.pt").exists()


def execute(spec: RunSpec, root: str) -> dict[str, Any]:
    """Run (or resume, or skip when finished) one run of a sweep; a worker's job.

    Writes ``worker.json`` (the process and host running it) in the run's directory first;
    returns ``{"key", "diverged_at", "steps_done", "resumed"}``.  One torch thread."""
    import torch

    from bntheory.landscape.train import train

    torch.set_num_threads(1)
    d = run_dir(root, spec)
    resumed = (d / "checkpoint.pt").exists()
    try:
        atomic_write(
            d / "worker.json",
            json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "key": spec.key}) + "\n",
        )
        doc = train(spec.config(), _data(spec.preset, spec.seed, spec.data), d, resume=True)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise DiskFullError(
                errno.ENOSPC,
                f"no space left on the device writing run {spec.key} under {d}; free space and "
                "run the sweep again: finished runs are kept and this one resumes from its last "
                "checkpoint",
            ) from e
        raise
    return {
        "key": spec.key,
        "diverged_at": doc["diverged_at"],
        "steps_done": doc["steps_done"],
        "resumed": resumed,
    }


def _grid_doc(specs: list[RunSpec]) -> dict[str, Any]:
    """The grid with each run's full configuration, so that a preset changed since the sweep
    began is refused rather than mixed with the runs it already finished."""
    return {
        "schema": SCHEMA,
        "runs": [s.to_json() | {"config": s.config().to_json()} for s in specs],
    }


def prepare(out: Path | str, specs: list[RunSpec]) -> Path:
    """Create (or reopen) the sweep directory ``out`` for ``specs``: ``sweep.json`` records
    the grid; a directory holding another grid, or files of something else, is refused."""
    root = Path(out)
    manifest = root / "sweep.json"
    doc = json.loads(json.dumps(_grid_doc(specs)))  # as it reads back (tuples as lists)
    if manifest.exists():
        old = json.loads(manifest.read_text())
        if old.get("runs") != doc["runs"]:
            raise SweepError(
                f"{root} holds another sweep ({len(old.get('runs', []))} runs, "
                f"preset {(old.get('runs') or [{}])[0].get('preset')}); choose another --out "
                "or remove it"
            )
        return root
    if root.exists() and any(root.iterdir()):
        raise SweepError(
            f"{root} exists and is not a sweep directory (no sweep.json); choose another --out "
            "(nothing in it is overwritten)"
        )
    atomic_write(manifest, json.dumps(doc, indent=1) + "\n")
    return root


def aggregate(root: Path | str, specs: list[RunSpec]) -> dict[str, Any]:
    """``results.json``'s document from the runs' ``metrics.json`` files: the runs (their
    state), the summaries per seed, the means over seeds with intervals and the paired
    comparisons against ``none`` (:mod:`bntheory.landscape.summary`)."""
    from bntheory.landscape.summary import paired_comparisons, run_summary, seed_summaries
    from bntheory.stats import LEVEL

    runs = []
    by_preset: dict[str, dict[int, list[dict]]] = {}
    for s in specs:
        doc = json.loads((run_dir(root, s) / "metrics.json").read_text())
        summary = run_summary(doc)
        by_preset.setdefault(s.preset, {}).setdefault(s.seed, []).append(summary)
        runs.append(
            {
                **s.to_json(),
                "key": s.key,
                "state": "diverged" if doc["diverged_at"] is not None else "finished",
                "diverged_at": doc["diverged_at"],
                "steps_done": doc["steps_done"],
            }
        )
    presets = {}
    for name, ps in by_preset.items():
        has_none = any(x["norm"] == "none" for xs in ps.values() for x in xs)
        presets[name] = {
            "seeds": sorted(ps),
            "summaries": seed_summaries(ps),
            "paired": paired_comparisons(ps) if has_none else [],
            "per_seed": {str(k): v for k, v in sorted(ps.items())},
        }
    return {"schema": SCHEMA, "level": LEVEL, "runs": runs, "presets": presets}


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did: the aggregated document, how many runs were skipped as
    finished, started, resumed, retried after a lost worker, and diverged."""

    results: dict[str, Any]
    skipped: int
    started: int
    resumed: int
    retried: int
    diverged: int


class _Status:
    """``status.json``: each run's state and attempts, rewritten atomically on every change."""

    def __init__(self, root: Path, specs: list[RunSpec]):
        self.path = root / "status.json"
        self.state = {s.key: {"state": "pending", "attempts": 0} for s in specs}

    def set(self, key: str, **fields) -> None:
        self.state[key].update(fields)

    def write(self) -> None:
        atomic_write(self.path, json.dumps({"schema": SCHEMA, "runs": self.state}, indent=1) + "\n")

    def submit(self, root: Path, spec: RunSpec) -> None:
        """``spec`` handed to a worker: ``queued`` until its worker writes ``worker.json``
        (a previous attempt's, of a worker that died, is removed first)."""
        (run_dir(root, spec) / "worker.json").unlink(missing_ok=True)
        self.set(spec.key, state="queued")

    def poll(self, root: Path, specs) -> bool:
        """Mark the queued runs of ``specs`` whose worker has started as ``running`` and
        count the start (``attempts``: the starts this driver saw); whether any changed."""
        changed = False
        for s in specs:
            queued = self.state[s.key]["state"] == "queued"
            if queued and (run_dir(root, s) / "worker.json").exists():
                self.set(s.key, state="running", attempts=self.state[s.key]["attempts"] + 1)
                changed = True
        return changed

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.state.values():
            out[r["state"]] = out.get(r["state"], 0) + 1
        return out


def check_address(address: str, timeout: float = 5.0) -> None:
    """Raise :class:`SweepError` unless ``host:port`` accepts a connection within
    ``timeout`` seconds (``auto`` and ``ray://`` addresses are left to Ray)."""
    if address == "auto" or address.startswith("ray://"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SweepError(f"--address must be HOST:PORT, 'auto' or ray://HOST:PORT; got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise SweepError(
            f"cannot reach a Ray cluster at {address} ({e.strerror or e}); start one with "
            "`ray start --head` and pass the address it prints, or leave out --address to "
            "start a local cluster"
        ) from None


def import_ray():
    """The ``ray`` module; :class:`SweepError` saying how to install it when it is missing."""
    try:
        import ray
    except ImportError:
        raise SweepError(
            "the ray backend needs Ray: pip install 'bntheory[ray]' (or choose --backend local)"
        ) from None
    return ray


Bar = Callable[[int, int], Any]  # (total, initial) -> an object with update() and set_postfix_str()


def check_backend(
    backend: str,
    jobs: int = 1,
    address: str | None = None,
    gpus_per_run: float = 0.0,
    max_attempts: int = 3,
):
    """Refuse a bad backend, worker count, address or a missing Ray before anything is
    written; Ray's module for ``backend="ray"``, else ``None``."""
    if backend not in BACKENDS:
        raise InvalidArgumentError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if jobs < 1 or max_attempts < 1 or gpus_per_run < 0:
        raise InvalidArgumentError("jobs and max_attempts must be >= 1, gpus_per_run >= 0")
    if backend == "local" and (address is not None or gpus_per_run):
        raise InvalidArgumentError("--address and --gpus-per-run need --backend ray")
    ray = import_ray() if backend == "ray" else None
    if address is not None:
        check_address(address)
    return ray


def run_sweep(
    specs: list[RunSpec],
    out: Path | str,
    backend: str = "local",
    jobs: int = 1,
    address: str | None = None,
    gpus_per_run: float = 0.0,
    max_attempts: int = 3,
    progress: Bar | None = None,
) -> SweepOutcome:
    """Run every unfinished run of ``specs`` under ``out`` with ``backend`` and write
    ``results.json`` (see the module docstring).  ``jobs``: local worker processes (and the
    CPUs of a local Ray cluster this call starts); ``progress(total, initial)``: one bar over
    runs (tqdm's constructor fits)."""
    ray = check_backend(backend, jobs, address, gpus_per_run, max_attempts)
    root = prepare(out, specs)
    with _lock(root):
        return _sweep(
            specs, root, backend, jobs, address, gpus_per_run, max_attempts, progress, ray
        )


@contextlib.contextmanager
def _lock(root: Path):
    """Hold ``DIR/.lock`` (an advisory ``flock``) while a sweep runs on ``DIR``: a second
    sweep on the same directory is refused instead of training the same runs twice."""
    import fcntl

    with open(root / ".lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepError(
                f"another sweep is running on {root} (it holds {root / '.lock'}); wait for it "
                "or choose another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sweep(specs, root, backend, jobs, address, gpus_per_run, max_attempts, progress, ray):
    """:func:`run_sweep` on a prepared, locked directory."""
    status = _Status(root, specs)
    todo = []
    for s in specs:
        if is_finished(root, s):
            status.set(s.key, state="finished")
        else:
            todo.append(s)
    skipped = len(specs) - len(todo)
    status.write()
    bar = progress(len(specs), skipped) if progress else None
    tally = {"resumed": 0, "retried": 0, "diverged": 0}

    def show(refresh: bool = True) -> None:
        if bar is not None:
            counts = status.counts()
            bar.set_postfix_str(
                " ".join(
                    f"{k} {counts[k]}"
                    for k in ("running", "queued", "diverged", "failed")
                    if k in counts
                )
                + (f" retried {tally['retried']}" if tally["retried"] else ""),
                refresh=refresh,
            )

    def done(spec: RunSpec | None, res: dict | None) -> None:
        """A run ended (``spec``, its result), or only time passed (``None``): refresh the
        states of the runs in flight, ``status.json`` and the bar."""
        changed = status.poll(root, todo)
        if spec is not None:
            state = "diverged" if res["diverged_at"] is not None else "finished"
            tally["resumed"] += bool(res["resumed"])
            tally["diverged"] += state == "diverged"
            status.set(spec.key, state=state, diverged_at=res["diverged_at"])
        if changed or spec is not None:
            status.write()
            show(refresh=spec is None)  # a finished run's bar line is drawn by update
            if spec is not None and bar is not None:
                bar.update(1)

    try:
        if backend == "local":
            _run_local(todo, root, jobs, max_attempts, status, done, tally)
        else:
            _run_ray(
                ray, todo, root, jobs, address, gpus_per_run, max_attempts, status, done, tally
            )
    finally:
        if bar is not None and hasattr(bar, "close"):
            bar.close()
    results = aggregate(root, specs)
    atomic_write(root / "results.json", json.dumps(results, indent=1) + "\n")
    return SweepOutcome(
        results, skipped, len(todo), tally["resumed"], tally["retried"], tally["diverged"]
    )


def _run_local(todo, root, jobs, max_attempts, status, done, tally) -> None:
    """The local backend: a pool of spawned workers, restarted when one of them dies."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    from bntheory.pool import process_pool, terminate

    pending = list(todo)
    while pending:
        pool = process_pool(min(jobs, len(pending)))
        futures = {}
        try:
            for s in pending:
                status.submit(root, s)
                futures[pool.submit(execute, s, str(root))] = s
            status.write()
            broken = False
            while futures:
                finished, _ = wait(futures, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                if not finished:
                    done(None, None)
                for f in finished:
                    s = futures.pop(f)
                    try:
                        res = f.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    pending.remove(s)
                    done(s, res)
                if broken:
                    break
        except BaseException:  # an error or Ctrl-C: stop the runs in flight, which resume later
            terminate(pool)
            for s in pending:
                status.set(s.key, state="pending")
            status.write()
            raise
        pool.shutdown(wait=True, cancel_futures=True)
        if pending:  # a worker died: the runs not finished resume from their checkpoints
            status.poll(root, pending)  # a run that started and died between two looks
            tally["retried"] += 1
            lost = [s for s in pending if status.state[s.key]["attempts"] >= max_attempts]
            for s in pending:
                status.set(s.key, state="failed" if s in lost else "pending")
            status.write()
            if lost:
                raise SweepError(
                    f"run {lost[0].key} lost its worker {max_attempts} times; see "
                    f"{run_dir(root, lost[0])} (run the sweep again to resume it)"
                )


def _run_ray(ray, todo, root, jobs, address, gpus_per_run, max_attempts, status, done, tally):
    """The Ray backend: one task per run, retried by Ray when its worker dies."""
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                num_cpus=None if address else jobs,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise SweepError(
                f"cannot start or join a Ray cluster at {address or 'local'}: {e}"
            ) from None
    task = ray.remote(
        num_cpus=1, num_gpus=gpus_per_run, max_retries=max_attempts - 1, retry_exceptions=False
    )(execute)
    refs: dict = {}
    try:
        for s in todo:
            status.submit(root, s)
            refs[task.remote(s, str(root))] = s
        status.write()
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_SECONDS)
            if not ready:
                done(None, None)
            for r in ready:
                s = refs.pop(r)
                try:
                    res = ray.get(r)
                except ray.exceptions.RayTaskError:  # the run's own error (a full disk, ...)
                    status.set(s.key, state="failed")
                    status.write()
                    raise
                except ray.exceptions.WorkerCrashedError as e:
                    status.set(s.key, state="failed")
                    status.write()
                    raise SweepError(
                        f"run {s.key} lost its worker {max_attempts} times; run the sweep again "
                        "to resume it"
                    ) from e
                except ray.exceptions.RayError as e:  # out of memory, a node died, ...
                    status.set(s.key, state="failed")
                    status.write()
                    raise SweepError(
                        f"run {s.key} failed on the Ray cluster ({type(e).__name__}: {e}); run "
                        "the sweep again to resume it from its last checkpoint"
                    ) from e
                done(s, res)
    except BaseException:
        for r in refs:
            ray.cancel(r, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


def estimate_seconds(specs: list[RunSpec], parallel: int, calibration_steps: int = 3) -> float:
    """The sweep's wall time on this machine, extrapolated from ``calibration_steps`` SGD
    steps and one probe of its first run's configuration (in a temporary directory):
    ``sum(steps * t_step + probes * t_probe + hessians * t_hessian) / parallel``, with
    ``t_hessian = HESSIAN_PRODUCTS * 3 * t_step`` (not timed: one is minutes on a CPU for
    the VGG-11)."""
    import tempfile

    from bntheory.landscape.train import train

    if not specs:
        return 0.0
    s0 = specs[0]
    cfg = s0.config()
    data = _data(s0.preset, s0.seed, s0.data)
    from bntheory.threads import torch_threads

    with tempfile.TemporaryDirectory() as tmp, torch_threads(1):  # as a worker computes

        def timed(name: str, **changes) -> float:
            c = replace(cfg, checkpoint_every=10**9, **changes)
            t = time.perf_counter()
            train(c, data, Path(tmp) / name)
            return time.perf_counter() - t

        timed("warm-up", steps=1, probe_every=1, hessian_every=0)  # first calls' set-up
        t_step = timed("steps", steps=calibration_steps, probe_every=0) / calibration_steps
        # one step with probes at steps 0 and 1
        t_probe = max(0.0, timed("probe", steps=1, probe_every=1, hessian_every=0) - t_step) / 2
    # a Hessian-vector product costs about three SGD steps (double backward), and the top
    # eigenvalue about HESSIAN_PRODUCTS of them (10-16 on the digits runs)
    t_hess = HESSIAN_PRODUCTS * 3 * t_step
    total = 0.0
    for s in specs:
        c = s.config()
        probes = (c.steps // c.probe_every + 1) if c.probe_every else 0
        hessians = (c.steps // c.hessian_every + 1) if c.probe_every and c.hessian_every else 0
        total += c.steps * t_step + probes * t_probe + hessians * t_hess
    return total / max(1, parallel)
