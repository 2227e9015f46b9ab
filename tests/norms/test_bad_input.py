"""Bad input gets its own exception type and a message naming the argument and the value."""

from __future__ import annotations

import math

import pytest
import torch

from bntheory import get_layer
from bntheory.errors import (
    BatchTooSmallError,
    BNTheoryError,
    InvalidArgumentError,
    NonFiniteInputError,
    ShapeMismatchError,
    UnknownLayerError,
    ZeroVarianceError,
)

BN = get_layer("batchnorm")


@pytest.fixture
def x(device):
    return torch.randn(
        4, 3, 2, dtype=torch.float64, device=device, generator=torch.Generator().manual_seed(0)
    ).to(device)


def _ops(x):
    """Every entry point, so each error is checked on forward and on all closed forms."""
    g = torch.ones_like(x)
    return {
        "forward": lambda *a, **k: BN.forward(x, *a, **k),
        "jvp": lambda *a, **k: BN.jvp(x, g, *a, **k),
        "vjp": lambda *a, **k: BN.vjp(x, g, *a, **k),
        "hvp": lambda *a, **k: BN.hvp(x, g, g, *a, **k),
    }


@pytest.mark.parametrize("op", ["forward", "jvp", "vjp", "hvp"])
def test_batch_of_one_in_training(op, device):
    x1 = torch.randn(1, 3, dtype=torch.float64, device=device)
    with pytest.raises(BatchTooSmallError, match=r"more than 1 value per channel.*\(1, 3\)"):
        _ops(x1)[op](training=True)


def test_batch_of_one_is_fine_in_eval_mode(device):
    x1 = torch.randn(1, 3, dtype=torch.float64, device=device)
    rm, rv = (
        torch.zeros(3, dtype=torch.float64, device=device),
        torch.ones(3, dtype=torch.float64, device=device),
    )
    assert BN.forward(x1, rm, rv, training=False).shape == (1, 3)


@pytest.mark.parametrize("op", ["forward", "jvp", "vjp", "hvp"])
def test_zero_variance_with_eps_zero(op, x):
    x = x.clone()
    x[:, 1] = 2.5
    with pytest.raises(ZeroVarianceError, match=r"channel 1 .*constant \(2.5\).*eps=0"):
        _ops(x)[op](training=True, eps=0.0)
    _ops(x)[op](training=True, eps=1e-5)  # a constant channel is fine with eps > 0


def test_zero_variance_from_underflow(device):
    x = torch.tensor([[1e-170, 1.0], [2e-170, 2.0]], dtype=torch.float64, device=device)
    with pytest.raises(ZeroVarianceError, match="underflows"):
        BN.forward(x, training=True, eps=0.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    "where", ["input", "weight", "bias", "running_mean", "running_var", "g", "v"]
)
def test_non_finite_values(bad, where, x):
    c = x.shape[1]
    kw = {
        "weight": torch.ones(c, dtype=x.dtype, device=x.device),
        "bias": torch.zeros(c, dtype=x.dtype, device=x.device),
        "running_mean": torch.zeros(c, dtype=x.dtype, device=x.device),
        "running_var": torch.ones(c, dtype=x.dtype, device=x.device),
    }
    g, v = torch.ones_like(x), torch.ones_like(x)
    target = {"input": x, "g": g, "v": v}.get(where, kw.get(where))
    target = target.clone()
    target.view(-1)[1] = bad
    if where == "input":
        x = target
    elif where == "g":
        g = target
    elif where == "v":
        v = target
    else:
        kw[where] = target
    with pytest.raises(
        NonFiniteInputError, match=rf"{where} contains a non-finite value \({bad}\) at index"
    ):
        BN.hvp(x, g, v, training=False, **kw)


@pytest.mark.parametrize("name", ["weight", "bias", "running_mean", "running_var"])
@pytest.mark.parametrize("op", ["forward", "jvp", "vjp", "hvp"])
def test_parameter_shape_mismatch(name, op, x):
    kw = {
        "running_mean": torch.zeros(3, dtype=x.dtype, device=x.device),
        "running_var": torch.ones(3, dtype=x.dtype, device=x.device),
    }
    kw[name] = torch.ones(4, dtype=x.dtype, device=x.device)
    with pytest.raises(
        ShapeMismatchError, match=rf"{name} must have shape \(3,\).*got shape \(4,\)"
    ):
        _ops(x)[op](training=False, **kw)


@pytest.mark.parametrize("name", ["g", "v"])
def test_direction_shape_mismatch(name, x):
    good, bad = torch.ones_like(x), torch.ones(4, 3, dtype=x.dtype, device=x.device)
    g, v = (bad, good) if name == "g" else (good, bad)
    with pytest.raises(
        ShapeMismatchError, match=rf"{name} must have the input's shape \(4, 3, 2\), got \(4, 3\)"
    ):
        BN.hvp(x, g, v, training=True)


def test_input_with_one_dimension(device):
    with pytest.raises(ShapeMismatchError, match=r"\(N, C, \*\).*got shape \(5,\)"):
        BN.forward(torch.ones(5, dtype=torch.float64, device=device), training=True)


@pytest.mark.parametrize("eps", [-1e-5, math.nan, "small"])
def test_invalid_eps(eps, x):
    with pytest.raises(InvalidArgumentError, match="eps"):
        BN.forward(x, training=True, eps=eps)


def test_missing_running_stats_in_eval_mode(x):
    with pytest.raises(
        InvalidArgumentError, match="running_mean and running_var must be given in eval mode"
    ):
        BN.forward(x, None, None, training=False)


def test_dtype_mismatch(x):
    with pytest.raises(InvalidArgumentError, match=r"weight must have the input's dtype"):
        BN.forward(x, weight=torch.ones(3, dtype=torch.float32, device=x.device), training=True)


def test_unexpected_keyword(x):
    with pytest.raises(InvalidArgumentError, match="unexpected keyword argument 'epsilon'"):
        BN.forward(x, training=True, epsilon=0.1)


def test_unknown_layer_lists_known_ones():
    with pytest.raises(
        UnknownLayerError,
        match=r"unknown layer 'batchnrom'; known layers: .*batchnorm.*did you mean 'batchnorm'",
    ):
        get_layer("batchnrom")


def test_all_errors_share_a_base_class():
    for exc in (
        BatchTooSmallError,
        InvalidArgumentError,
        NonFiniteInputError,
        ShapeMismatchError,
        UnknownLayerError,
        ZeroVarianceError,
    ):
        assert issubclass(exc, BNTheoryError)
