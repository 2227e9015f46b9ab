"""The sweep engine: resumable grids of runs on worker processes and on a real local Ray
cluster.  Workers are killed with SIGKILL in the middle of a run; the sweep resumes them from
their checkpoints and aggregates to the same JSON as an uninterrupted sweep, on both
backends."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bntheory.errors import BNTheoryError
from bntheory.landscape import sweep

GRID = dict(preset="smoke", seeds=[0, 1], norms=["none", "batchnorm"], lrs=[0.1], steps=40)
CLI_GRID = [
    "--preset", "smoke", "--seeds", "2", "--norm", "none,batchnorm", "--lr", "0.1",
    "--steps", "40", "--no-estimate",
]  # fmt: skip


def specs():
    return sweep.plan(**GRID)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted local sweep of the grid: its results.json."""
    out = tmp_path_factory.mktemp("reference") / "sweep"
    outcome = sweep.run_sweep(specs(), out, jobs=2)
    assert outcome.started == 4 and outcome.skipped == 0 and outcome.resumed == 0
    return json.loads((out / "results.json").read_text())


def wait_for_checkpoint(
    out: Path, timeout: float = 120.0, besides: frozenset[Path] = frozenset()
) -> tuple[Path, int]:
    """The first run directory (not in ``besides``) holding a checkpoint, a run in the
    middle, and its worker's pid, read from its worker.json."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ckpt in (out / "runs").rglob("checkpoint.pt"):
            if ckpt.parent in besides:
                continue
            info = ckpt.parent / "worker.json"
            try:
                return ckpt.parent, json.loads(info.read_text())["pid"]
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                continue
        time.sleep(0.005)
    raise AssertionError(f"no run of {out} wrote a checkpoint within {timeout} s")


def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bntheory.cli", "sweep", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_the_grid_is_seeds_then_learning_rates_then_norms():
    keys = [s.key for s in sweep.plan("smoke", [3, 4], ["none", "batchnorm"], [0.1, 0.2])]
    assert keys[:4] == [
        "smoke/seed-3/none_lr0.1",
        "smoke/seed-3/batchnorm_lr0.1",
        "smoke/seed-3/none_lr0.2",
        "smoke/seed-3/batchnorm_lr0.2",
    ]
    assert len(keys) == 8 and len(set(keys)) == 8


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(seeds=[]), "at least one seed"),
        (dict(seeds=[1, 1]), "distinct"),
        (dict(seeds=[0], norms=["nonorm"]), "unknown normalization"),
        (dict(seeds=[0], lrs=[-1.0]), "positive"),
        (dict(seeds=[0], steps=0), "steps"),
        (dict(seeds=[0], lrs=[0.1, 0.1000000001]), "learning rates must be distinct"),
        (dict(seeds=[0], norms=["none", "none"]), "normalizations must be distinct"),
    ],
)
def test_bad_grids_are_refused(kw, match):
    with pytest.raises(BNTheoryError, match=match):
        sweep.plan("smoke", **kw)


def wait_for_states(out: Path, want: dict[str, int], timeout: float = 30.0) -> dict[str, dict]:
    """status.json's runs once their states count at least as ``want`` (and none pending)."""
    deadline, counts = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            runs = json.loads((out / "status.json").read_text())["runs"]
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.01)
            continue
        counts = {}
        for r in runs.values():
            counts[r["state"]] = counts.get(r["state"], 0) + 1
        if "pending" not in counts and all(counts.get(k, 0) >= n for k, n in want.items()):
            return runs
        time.sleep(0.01)
    raise AssertionError(f"status.json of {out} never counted {want}; last {counts}")


def test_a_killed_local_worker_has_its_run_resumed(tmp_path, reference):
    out = tmp_path / "sweep"
    proc = cli(*CLI_GRID, "--jobs", "1", "--out", str(out))
    # one worker: one run is running, the others wait their turn
    runs = wait_for_states(out, {"running": 1, "queued": 2})
    assert [r["attempts"] for r in runs.values() if r["state"] == "running"] == [1]
    run, pid = wait_for_checkpoint(out)
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert json.loads((out / "results.json").read_text()) == reference
    status = json.loads((out / "status.json").read_text())["runs"]
    key = str(run.relative_to(out / "runs"))
    assert status[key]["attempts"] == 2 and status[key]["state"] == "finished"
    assert "1 resumed from checkpoints" in stdout
    # the empirical claims the runs support are judged beside the results
    claims = json.loads((out / "claims.json").read_text())["claims"]
    judged = {(c["id"], c["regime"]) for c in claims}
    assert ("santurkar2018.smoothing.loss-variation", "smoke, lr 0.1") in judged
    assert all(c["verdict"] in ("supported", "contradicted", "inconclusive") for c in claims)
    assert re.search(r"^santurkar2018\.smoothing\.loss-variation +smoke, lr 0\.1: ", stdout, re.M)


def test_a_killed_sweep_run_again_skips_finished_runs_and_resumes_the_rest(tmp_path, reference):
    out = tmp_path / "sweep"
    proc = cli(*CLI_GRID, "--jobs", "1", "--out", str(out), start_new_session=True)
    deadline = time.monotonic() + 120
    finished: list[Path] = []
    while not finished:  # one run finished (its metrics written and its checkpoint gone)
        assert time.monotonic() < deadline and proc.poll() is None
        finished = [sweep.run_dir(out, s) for s in specs() if sweep.is_finished(out, s)]
        time.sleep(0.005)
    wait_for_checkpoint(out, besides=frozenset(finished))  # and another one in the middle
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker
    proc.communicate(timeout=60)
    assert not (out / "results.json").exists()
    outcome = sweep.run_sweep(specs(), out, jobs=1)
    assert outcome.skipped >= 1 and outcome.resumed >= 1
    assert outcome.results == reference
    again = sweep.run_sweep(specs(), out, jobs=1)  # nothing left to do
    assert again.skipped == 4 and again.started == 0 and again.results == reference


def test_the_ray_backend_resumes_a_killed_worker_and_matches_the_local_backend(tmp_path, reference):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    out = tmp_path / "sweep"
    killed = {}

    def kill_one() -> None:
        run, pid = wait_for_checkpoint(out)
        os.kill(pid, signal.SIGKILL)
        killed["run"] = run

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    outcome = sweep.run_sweep(specs(), out, backend="ray", jobs=1)
    killer.join(timeout=10)
    assert not ray.is_initialized()  # the cluster this call started is shut down
    assert "run" in killed and outcome.resumed >= 1
    assert outcome.results == reference  # the same JSON as the local backend's
    assert json.loads((out / "results.json").read_text()) == reference


def test_an_unreachable_ray_address_is_a_clear_error(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    with pytest.raises(sweep.SweepError, match="cannot reach a Ray cluster at 127.0.0.1:1"):
        sweep.run_sweep(specs(), tmp_path / "s", backend="ray", address="127.0.0.1:1")
    with pytest.raises(sweep.SweepError, match="HOST:PORT"):
        sweep.run_sweep(specs(), tmp_path / "s", backend="ray", address="nowhere")
    assert not (tmp_path / "s").exists()  # refused before anything is written


def test_a_missing_ray_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(sweep.SweepError, match=r"pip install 'bntheory\[ray\]'"):
        sweep.run_sweep(specs(), tmp_path / "s", backend="ray")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['ray'] = None; "
         "from bntheory.cli import main; sys.exit(main(sys.argv[1:]))",
         "sweep", *CLI_GRID, "--backend", "ray", "--out", str(tmp_path / "s")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "bntheory[ray]" in proc.stderr


def test_a_diverging_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    grid = sweep.plan("smoke", [0], ["none", "batchnorm"], [0.1, 1e4], steps=20)
    outcome = sweep.run_sweep(grid, tmp_path / "s", jobs=2)
    states = {(r["norm"], r["lr"]): (r["state"], r["diverged_at"]) for r in outcome.results["runs"]}
    assert states[("none", 0.1)] == ("finished", None)
    assert states[("batchnorm", 0.1)] == ("finished", None)
    for norm in ("none", "batchnorm"):
        state, at = states[(norm, 1e4)]
        assert state == "diverged" and 0 <= at < 20
    assert outcome.diverged == 2
    status = json.loads((tmp_path / "s" / "status.json").read_text())["runs"]
    assert status["smoke/seed-0/none_lr10000"]["state"] == "diverged"


def test_another_grid_or_a_foreign_directory_is_refused(tmp_path):
    out = tmp_path / "s"
    sweep.prepare(out, specs())
    with pytest.raises(sweep.SweepError, match="holds another sweep"):
        sweep.prepare(out, sweep.plan("smoke", [0, 1, 2], ["none"], [0.1], steps=40))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(sweep.SweepError, match="not a sweep directory"):
        sweep.run_sweep(specs(), mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="backend"):
        sweep.run_sweep(specs(), tmp_path / "t", backend="slurm")
    with pytest.raises(ValueError, match="need --backend ray"):
        sweep.run_sweep(specs(), tmp_path / "t", address="127.0.0.1:6379")


def test_a_full_disk_is_a_clear_error_naming_the_run(tmp_path, monkeypatch):
    from bntheory.landscape import train as train_module

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(train_module, "atomic_write", full)
    spec = specs()[0]
    with pytest.raises(sweep.DiskFullError, match=r"no space left .* smoke/seed-0/none_lr0\.1"):
        sweep.execute(spec, str(tmp_path))
    err = pytest.raises(sweep.DiskFullError, sweep.execute, spec, str(tmp_path)).value
    assert err.errno == errno.ENOSPC and "resumes from its last checkpoint" in str(err)


def test_the_estimate_is_a_positive_finite_time():
    seconds = sweep.estimate_seconds(specs(), parallel=2)
    assert 0 < seconds < float("inf")
    assert sweep.estimate_seconds([], parallel=1) == 0.0


def test_a_second_sweep_on_the_same_directory_is_refused_while_one_runs(tmp_path):
    import fcntl

    out = sweep.prepare(tmp_path / "s", specs())
    with open(out / ".lock", "a") as fh:  # what a running sweep holds
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(sweep.SweepError, match="another sweep is running"):
            sweep.run_sweep(specs(), out)
    assert not (out / "results.json").exists() and not list(out.glob("runs/**/metrics.json"))


def test_a_preset_changed_since_the_sweep_began_is_refused(tmp_path, monkeypatch):
    from bntheory.landscape import presets

    out = sweep.prepare(tmp_path / "s", specs())
    smoke = presets.get_preset("smoke")
    changed = dataclasses.replace(smoke, base=dataclasses.replace(smoke.base, batch_size=7))
    monkeypatch.setitem(presets.PRESETS, "smoke", changed)
    with pytest.raises(sweep.SweepError, match="holds another sweep"):
        sweep.prepare(out, specs())
