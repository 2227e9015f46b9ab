"""The benchmark scripts run (smoke runs at tiny sizes; nothing here is timed)."""

from __future__ import annotations

import importlib.util
import math
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def _keep_thread_counts():
    """A benchmark sets torch's thread count for its own timing (``--threads``); the test
    process keeps its share of the cores (tests/test_harness.py checks it)."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name,argv",
    [
        ("closed_forms", ["--quick"]),
        ("verify", ["--m", "8", "--cases", "5", "--vectorised", "200"]),
        (
            "symbolic",
            ["--ms", "2", "--timeout", "20", "--no-all-proofs"],
        ),  # tests/symbolic runs every proof
        ("landscape", ["--quick"]),
        ("peers", ["--quick"]),  # the peers that are not installed are skipped
        ("fused_layout", ["--n", "130", "--c", "7", "--min-run-time", "0.01"]),
        ("fused_anatomy", ["--n", "130", "--c", "7", "--rounds", "1", "--min-run-time", "0.01"]),
        ("c_statistics", ["--n", "130", "--c", "16", "--rounds", "1", "--min-run-time", "0.01"]),
    ],
)
def test_benchmark_runs(name, argv, capsys):
    if name.startswith("fused_") or name == "c_statistics":
        from bntheory.norms import fused

        if not fused.ENABLED:
            pytest.skip("the fused kernels need Numba (not installed or BNTHEORY_FUSED=0)")
    if name == "c_statistics" and shutil.which("cc") is None:
        pytest.skip("needs a C compiler (cc) with OpenMP")
    rc = _load(name).main(argv)
    if name == "c_statistics" and rc == 2:
        pytest.skip(
            "the C compiler could not build the benchmark: "
            f"{capsys.readouterr().err.strip()[-300:]}"
        )
    assert rc == 0
    out = capsys.readouterr().out
    assert "python" in out.split("\n")[1] + out.split("\n")[0]  # a header with the versions
    assert re.search(r"\d+(\.\d+)?x\b", out)  # and ratios side by side, such as "3.87x"
    if name == "closed_forms":
        _check_every_layer(out)


def _layer_rows(out: str, name: str) -> list[str]:
    """The rows of the other layers' table for ``name``
    (``name  input  groups x m ... | op | ...``)."""
    return [
        line
        for line in out.splitlines()
        if re.match(rf"{re.escape(name)}\s+\d+(x\d+)+\s+\d+x\d+\s", line)
    ]


def _check_every_layer(out: str) -> None:
    """closed_forms.py --quick printed BatchNorm's table, then a row per op for every other
    layer."""
    from bntheory.norms import layer_names

    assert "Other layers: closed forms vs autograd" in out
    assert re.search(r"^\s+N\s+C \|\s+op \|", out, re.M)  # BatchNorm's table, as before
    others = [name for name in layer_names() if name != "batchnorm"]
    assert others
    for name in others:
        rows = _layer_rows(out, name)
        for op in ("vjp", "hvp"):
            row = [r for r in rows if re.search(rf"\|\s+{op}\*? \|", r)]
            assert row, f"no {op} row for {name} in:\n{out}"
            assert re.search(r"\d+\.\d+x\b", row[0])  # speedup side by side
            assert re.search(r"\d\.\de[-+]\d+\s+\d+\.\d+$", row[0])  # rel.err and err/bound
    assert "FAILED" not in out and "DISAGREE" not in out
    assert re.search(r"other layers: largest rel\.err .*: agree$", out, re.M)


def test_closed_forms_layers_option(capsys):
    module = _load("closed_forms")
    assert module.main(["--quick", "--layers", "rmsnorm, instancenorm"]) == 0
    out = capsys.readouterr().out
    assert "BatchNorm's table: not run" in out
    assert _layer_rows(out, "rmsnorm") and _layer_rows(out, "instancenorm")
    assert not _layer_rows(out, "layernorm")
    assert re.search(
        r"instancenorm\s+64x2x4\s", out
    )  # the spatial axis it needs, shown in the table
    with pytest.raises(SystemExit):
        module.main(["--quick", "--layers", "nosuchnorm"])
    assert "unknown layer" in capsys.readouterr().err


def test_closed_forms_exits_1_on_a_disagreement(monkeypatch, capsys):
    from bntheory import get_layer

    cls = type(get_layer("layernorm"))
    right = cls.vjp
    monkeypatch.setattr(
        cls, "vjp", lambda self, x, g, *a, **kw: right(self, x, g, *a, **kw) * (1 + 1e-6)
    )
    assert (
        _load("closed_forms").main(["--quick", "--layers", "layernorm", "--min-run-time", "0.001"])
        == 1
    )
    out = capsys.readouterr().out
    assert re.search(r"^DISAGREE: layernorm vjp at input \(64, 8\)", out, re.M)


def test_sweep_benchmark_runs_both_backends_and_compares_their_json(capsys):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    assert _load("sweep").main(["--seeds", "1", "--steps", "10", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.startswith(("local ", "ray "))
    }
    # local: sweep s, total s, runs/min; ray: sweep s, ray.init s, shutdown s, total s,
    # runs/min, overhead per run s
    assert set(rows) == {"local", "ray"} and len(rows["local"]) == 4 and len(rows["ray"]) == 7
    assert float(rows["local"][3]) > 0 and float(rows["ray"][5]) > 0  # runs per minute
    assert math.isfinite(float(rows["ray"][6]))  # the overhead per run, a number
    assert "results.json identical across backends: True" in out


@pytest.mark.gpu
def test_gpu_sweep_benchmark_times_a_short_santurkar2018_sweep(capsys):
    assert _load("gpu_sweep").main(["--steps", "20", "--device", "cuda"]) == 0
    out = capsys.readouterr().out
    assert "seconds per step" in out and "full santurkar2018 preset" in out


def test_peers_benchmark_names_what_it_skips_and_prints_every_target(capsys, monkeypatch):
    module = _load("peers")
    monkeypatch.setitem(module.PEERS, "PyHessian", "no_such_module")  # one missing for sure
    assert module.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  PyHessian: not installed, skipped", out, re.M)
    assert "PyHessian eigenvalues" not in out
    for peer in ("curvlinops", "BackPACK", "hessian-eigenthings"):
        assert re.search(rf"^  {peer}( \d|: not installed, skipped)", out, re.M), peer
    for table in ("top eigenvalue:", "trace:", "density:", "BatchNorm's own curvature"):
        assert table in out
    assert re.search(r"bntheory top_eigenvalue .* train ", out)
    targets = out.split("\ntargets\n")[1]
    assert len(re.findall(r"(MET|MISSED) \(\d/\d models\)", targets)) == 3
    assert "route vmap-jvp-jacrev, refuted on batch_norm" in out  # curvlinops' route
