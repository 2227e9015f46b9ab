"""The benchmark scripts run (smoke runs at tiny sizes; nothing here is timed)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name,argv", [
    ("closed_forms", ["--quick"]),
    ("verify", ["--m", "8", "--cases", "5", "--vectorised", "200"]),
    ("symbolic", ["--ms", "2", "--timeout", "20"]),
    ("landscape", ["--quick"]),
])
def test_benchmark_runs(name, argv, capsys):
    assert _load(name).main(argv) == 0
    out = capsys.readouterr().out
    assert "python" in out.split("\n")[1] + out.split("\n")[0]  # a header with the versions
    assert re.search(r"\d+(\.\d+)?x\b", out)  # and ratios side by side, such as "3.87x"
