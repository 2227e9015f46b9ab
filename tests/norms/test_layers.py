"""Every registered layer: the battery, closed forms against autograd under Hypothesis, torch
parity (running statistics included), and bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings

from bntheory import get_layer, layer_names
from bntheory.cases.layer_calls import layer_calls, layer_case
from bntheory.errors import (
    BNTheoryError,
    InvalidArgumentError,
    NonFiniteInputError,
    ShapeMismatchError,
    ZeroVarianceError,
)
from bntheory.norms import LpBatchNorm
from bntheory.testing import check_layer
from bntheory.verify.compare import compare
from bntheory.verify.oracle import closed_form, layer_map, oracle

NAMES = layer_names()
BUILT_IN = (
    "batchnorm",
    "groupnorm",
    "instancenorm",
    "l1batchnorm",
    "l2batchnorm",
    "layernorm",
    "linfbatchnorm",
    "noisybatchnorm",
    "rmsnorm",
)


def test_every_built_in_layer_is_registered():
    assert set(BUILT_IN) <= set(NAMES)
    for name in BUILT_IN:
        p = get_layer(name).provides()
        assert p["symbolic"] == "sympy" and {p[op] for op in ("jvp", "vjp", "hvp")} == {
            "closed form"
        }, name


@pytest.mark.parametrize("name", BUILT_IN)
def test_check_layer_passes(name, device):
    result = check_layer(name, device=device)
    assert result.symbolic_comparisons >= 12 and result.symmetry_cases >= 2
    assert all(op.cases > 0 and op.failures == 0 for op in result.closed_forms.ops)
    assert {op.op for op in result.closed_forms.ops} >= {"jvp", "vjp", "hvp"}


@pytest.mark.parametrize(
    "name", [n for n in BUILT_IN if n != "batchnorm"]
)  # BatchNorm: test_batchnorm.py
@settings(max_examples=15)
@given(data=__import__("hypothesis").strategies.data())
def test_closed_forms_match_autograd(name, data, device):
    layer = get_layer(name)
    case = data.draw(layer_calls(layer, device=device))
    for op in ("jvp", "vjp", "hvp"):
        ours = closed_form(layer, op, case.x, case.g, case.v, (), case.kwargs)
        ref = oracle(op, layer_map(layer, (), case.kwargs), case.x, case.g, case.v)
        if not bool(torch.isfinite(ref).all()):
            continue  # autograd's own intermediates underflow (t^3 for groups of scale 1e-100)
        cmp = compare(layer, op, case.x, ours, ref, (), case.kwargs, g=case.g, v=case.v)
        assert cmp.ok, f"{name} {op}: {cmp} on {case!r}"


def test_the_checks_can_fail(device):
    """A relative error of 1e-11 in a closed form is a disagreement, for every layer."""
    for name in BUILT_IN:
        layer = get_layer(name)
        case = layer_case(layer, "gaussian", (8, 4, 3), 1, 1e-5, True, "positive", device)
        ref = oracle("hvp", layer_map(layer, (), case.kwargs), case.x, case.g, case.v)
        good = closed_form(layer, "hvp", case.x, case.g, case.v, (), case.kwargs)
        assert compare(layer, "hvp", case.x, good, ref, (), case.kwargs, g=case.g, v=case.v).ok
        off = good * (1 + 1e-11 * torch.sign(case.v))
        assert not compare(
            layer, "hvp", case.x, off, ref, (), case.kwargs, g=case.g, v=case.v
        ).ok, name


# ------------------------------------------------------------- torch parity
def test_instancenorm_running_statistics_update_like_torch(device):
    x = torch.randn(4, 3, 5, dtype=torch.float64, device=device)
    ours = [
        torch.zeros(3, dtype=torch.float64, device=device),
        torch.ones(3, dtype=torch.float64, device=device),
    ]
    ref = [t.clone() for t in ours]
    out = get_layer("instancenorm").forward(x, *ours, None, None, True, 0.3, 1e-5)
    torch.testing.assert_close(
        out, F.instance_norm(x, *ref, None, None, True, 0.3, 1e-5), rtol=1e-13, atol=1e-13
    )
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(ours[1], ref[1], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
def test_lp_batchnorm_forward_and_running_statistics(p, device):
    x = torch.randn(16, 3, dtype=torch.float64, device=device) * 2 + 1
    rm, rv = (
        torch.zeros(3, dtype=torch.float64, device=device),
        torch.ones(3, dtype=torch.float64, device=device),
    )
    layer = LpBatchNorm(p)
    out = layer.forward(x, rm, rv, None, None, True, 0.5, 0.0)
    c = x - x.mean(0)
    s = c.abs().amax(0) if p == math.inf else c.abs().pow(p).mean(0).pow(1 / p)
    torch.testing.assert_close(out, c / s, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(rv, 0.5 + 0.5 * s, rtol=1e-14, atol=0)
    if p == 2.0:  # l2 with eps = 0 is BatchNorm with eps = 0
        torch.testing.assert_close(
            out, get_layer("batchnorm").forward(x, None, None, training=True, eps=0.0)
        )
    evald = layer.forward(x, rm, rv, None, None, False, 0.5, 1e-3)
    torch.testing.assert_close(evald, (x - rm) / (rv + 1e-3))


def test_noisy_batchnorm_noise_is_seeded_and_absent_in_eval(device):
    layer = get_layer("noisybatchnorm")
    x = torch.randn(8, 3, dtype=torch.float64, device=device)
    a = layer.forward(x, None, None, None, None, True, 0.1, 1e-5, 7)
    assert torch.equal(a, layer.forward(x, None, None, None, None, True, 0.1, 1e-5, 7))
    assert not torch.equal(a, layer.forward(x, None, None, None, None, True, 0.1, 1e-5, 8))
    plain = F.batch_norm(x, None, None, training=True, eps=1e-5)
    torch.testing.assert_close(layer.forward(x, training=True, noise=None), plain)
    rm, rv = (
        torch.zeros(3, dtype=torch.float64, device=device),
        torch.ones(3, dtype=torch.float64, device=device),
    )
    torch.testing.assert_close(
        layer.forward(x, rm, rv, training=False), F.batch_norm(x, rm, rv, training=False)
    )


# ----------------------------------------------------------------- bad input
def _call(name, x, **kw):
    layer = get_layer(name)
    base = {
        "layernorm": {"normalized_shape": x.shape[-1:]},
        "rmsnorm": {"normalized_shape": x.shape[-1:]},
        "groupnorm": {"num_groups": 1},
    }.get(name, {"training": True} if "batch" in name else {})
    return layer.forward(x, **(base | kw))


@pytest.mark.parametrize("name", BUILT_IN)
def test_non_finite_input_is_refused(name, device):
    x = torch.randn(4, 2, 3, dtype=torch.float64, device=device)
    x[1, 1, 2] = math.nan
    with pytest.raises(
        NonFiniteInputError, match=r"input contains a non-finite value \(nan\) at index \(1, 1, 2\)"
    ):
        _call(name, x)


@pytest.mark.parametrize("name", [n for n in BUILT_IN if n != "rmsnorm"])
def test_constant_group_with_eps_zero(name, device):
    x = torch.ones(4, 2, 3, dtype=torch.float64, device=device) * 2.5
    with pytest.raises(ZeroVarianceError, match="eps"):
        _call(name, x, eps=0.0)
    assert torch.isfinite(_call(name, x, eps=1e-5)).all()
    layer, kw = get_layer(name), {"eps": 1e-5}
    kw |= {"layernorm": {"normalized_shape": x.shape[-1:]}, "groupnorm": {"num_groups": 1}}.get(
        name, {}
    )
    kw |= {"training": True} if "batch" in name else {}
    g = torch.randn_like(x)
    for out in (layer.jvp(x, g, **kw), layer.vjp(x, g, **kw), layer.hvp(x, g, g, **kw)):
        assert torch.isfinite(out).all(), (
            name
        )  # derivatives exist (l2batchnorm: the least subgradient)


def test_rmsnorm_zero_group_with_eps_zero(device):
    x = torch.zeros(3, 4, dtype=torch.float64, device=device)
    with pytest.raises(ZeroVarianceError, match="group 0 of the input is zero"):
        _call("rmsnorm", x, eps=0.0)


@pytest.mark.parametrize(
    "name,kw,err,match",
    [
        (
            "layernorm",
            {"normalized_shape": (5,)},
            ShapeMismatchError,
            r"normalized_shape \(5,\) must equal the trailing",
        ),
        (
            "layernorm",
            {"normalized_shape": (3,), "weight": torch.ones(4, dtype=torch.float64)},
            ShapeMismatchError,
            r"weight must have shape \(3,\)",
        ),
        (
            "rmsnorm",
            {"normalized_shape": "x"},
            InvalidArgumentError,
            "normalized_shape must be an int",
        ),
        (
            "groupnorm",
            {"num_groups": 3},
            ShapeMismatchError,
            "2 channels .* not divisible by num_groups=3",
        ),
        ("groupnorm", {"num_groups": 0}, InvalidArgumentError, "num_groups must be a positive int"),
        (
            "groupnorm",
            {"num_groups": 1, "eps": -1.0},
            InvalidArgumentError,
            "eps must be a finite real number >= 0",
        ),
        (
            "instancenorm",
            {"use_input_stats": False},
            InvalidArgumentError,
            "running_mean and running_var must be given",
        ),
        (
            "noisybatchnorm",
            {"training": True, "noise": "loud"},
            InvalidArgumentError,
            "noise must be an int seed",
        ),
        (
            "layernorm",
            {"normalized_shape": (3,), "bogus": 1},
            InvalidArgumentError,
            "unexpected keyword argument 'bogus'",
        ),
    ],
)
def test_bad_arguments_name_the_problem(name, kw, err, match):
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    with pytest.raises(err, match=match):
        get_layer(name).forward(x, **kw)


def test_instancenorm_needs_a_spatial_axis():
    with pytest.raises(ShapeMismatchError, match="at least one spatial axis"):
        get_layer("instancenorm").forward(torch.randn(4, 3, dtype=torch.float64))


def test_lp_batchnorm_p_must_be_one_two_or_inf():
    with pytest.raises(InvalidArgumentError, match="p must be 1, 2 or inf, got p=3"):
        LpBatchNorm(3)


@pytest.mark.parametrize("name", BUILT_IN)
def test_direction_of_the_wrong_shape(name, device):
    layer = get_layer(name)
    case = layer_case(layer, "gaussian", (4, 2, 3), 0, 1e-5, True, "ones", device)
    with pytest.raises(BNTheoryError, match="must have the input's shape"):
        layer.vjp(case.x, case.g[:, :1], **case.kwargs)


@pytest.mark.gpu
@pytest.mark.parametrize("name", BUILT_IN)
def test_closed_forms_on_cuda_match_cpu(name):
    """The same seeded call on the GPU and on the CPU, float64 on both."""
    layer = get_layer(name)
    cpu = layer_case(layer, "heavy_tailed", (8, 4, 3), 3, 1e-5, True, "mixed", "cpu")
    gpu = layer_case(layer, "heavy_tailed", (8, 4, 3), 3, 1e-5, True, "mixed", torch.device("cuda"))
    for op in ("forward", "jvp", "vjp", "hvp"):
        a = closed_form(layer, op, gpu.x, gpu.g, gpu.v, (), gpu.kwargs).cpu()
        b = closed_form(layer, op, cpu.x, cpu.g, cpu.v, (), cpu.kwargs)
        assert compare(layer, op, cpu.x, a, b, (), cpu.kwargs, g=cpu.g, v=cpu.v).ok, (name, op)
