"""pytest plugin (entry point ``pytest11``, loaded automatically once bntheory is installed).

It gives the fixture ``check_layer``, so that a user's test file of a few lines runs the whole
battery (:func:`bntheory.testing.check_layer`) on their registered layer::

    import meancenter  # registers the layer


    def test_meancenter(check_layer):
        check_layer("meancenter")

Options: ``--bntheory-device cpu|cuda`` (default: the suite's own ``--device`` if it has one,
else cpu; cuda skips with the reason when no CUDA device exists) and ``--bntheory-full``
(the report's full set of cases instead of the quick one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the plugin's command-line options to pytest."""
    group = parser.getgroup("bntheory", "bntheory layer battery")
    group.addoption(
        "--bntheory-device",
        default=None,
        choices=("cpu", "cuda"),
        help="device of the check_layer fixture (default: --device if defined, else cpu)",
    )
    group.addoption(
        "--bntheory-full",
        action="store_true",
        default=False,
        help="check_layer runs the report's full set of cases (default: the quick set)",
    )


def _device(config: pytest.Config) -> str:
    chosen = config.getoption("--bntheory-device")
    if chosen:
        return chosen
    try:
        return str(config.getoption("--device"))
    except (ValueError, AttributeError):
        return "cpu"


@pytest.fixture
def check_layer(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``check_layer(name, **options)``: run the battery on a registered layer; a failing
    check fails the test with the battery's message (which check, which operation, which case)."""
    import torch

    from bntheory.verify.battery import check_layer as run

    device = _device(request.config)
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("check_layer on cuda: no CUDA device (torch.cuda.is_available() is False)")
    full = request.config.getoption("--bntheory-full")

    def _run(name: str, **options: Any):
        options.setdefault("device", device)
        options.setdefault("quick", not full)
        return run(name, **options)

    return _run
