"""BatchNorm: forward against torch, closed forms against torch.autograd, under the error model."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from bntheory import get_layer
from bntheory.cases.strategies import batchnorm_cases, build_case, raw_batches
from bntheory.errors import BNTheoryError, NonFiniteInputError
from bntheory.norms import fused
from bntheory.norms.base import unit_roundoff
from bntheory.verify.compare import compare
from bntheory.verify.oracle import closed_form, layer_map, oracle

BN = get_layer("batchnorm")
OPS = ("jvp", "vjp", "hvp")
# The closed forms' two CPU routes for plain (untracked) tensors: the fused Numba kernels
# (2-D inputs, when Numba is installed) and the blocked torch route.  Both are tested.
ROUTES = pytest.mark.parametrize("route", ["fused", "torch"])


@contextlib.contextmanager
def closed_form_route(route):
    if route == "fused" and not fused.ENABLED:
        pytest.skip("the fused route needs Numba (not installed or BNTHEORY_FUSED=0)")
    saved = fused.ENABLED
    fused.ENABLED = route == "fused"
    try:
        yield
    finally:
        fused.ENABLED = saved


def torch_reference_map(case):
    """torch's own F.batch_norm (no running-stat mutation), when it accepts the arguments."""
    kw = dict(case.kwargs)
    if kw["training"]:
        if kw["eps"] == 0:
            return None  # torch refuses eps=0 in training mode
        kw.pop("running_mean", None), kw.pop("running_var", None)
        return lambda t: F.batch_norm(t, None, None, **kw)
    return lambda t: F.batch_norm(
        t,
        kw["running_mean"],
        kw["running_var"],
        **{k: v for k, v in kw.items() if not k.startswith("running")},
    )


def assert_agree(op, case, a, b, route):
    cmp = compare(BN, op, case.x, a, b, (), case.kwargs, g=case.g, v=case.v)
    assert cmp.ok, (
        f"{op} closed form vs {route}: error {cmp.max_ratio:.3g} x the error model's bound "
        f"(relative error {cmp.max_rel_error:.3g}) for {case!r}"
    )


@given(case=batchnorm_cases())
def test_forward_matches_torch_functional(case, device):
    case = _to(case, device)
    ours = BN.stateless_forward(case.x, **case.kwargs)
    ref_map = torch_reference_map(case)
    if ref_map is None:  # eps = 0: compare with an independent numpy float64 computation
        ref = torch.as_tensor(_numpy_batchnorm(case), device=device)
    else:
        ref = ref_map(case.x)
    assert_agree("forward", case, ours, ref, "torch" if ref_map else "numpy")


@ROUTES
@pytest.mark.parametrize("op", OPS)
@given(case=batchnorm_cases())
def test_closed_form_matches_autograd(op, case, device, route):
    case = _to(case, device)
    with closed_form_route(route):
        ours = closed_form(BN, op, case.x, case.g, case.v, (), case.kwargs)
    ref = oracle(op, layer_map(BN, (), case.kwargs), case.x, case.g, case.v)
    assert_agree(op, case, ours, ref, "autograd of the layer's forward")
    torch_map = torch_reference_map(case)
    if torch_map is not None:  # torch's own derivative kernels: shares no code with bntheory
        assert_agree(
            op,
            case,
            ours,
            oracle(op, torch_map, case.x, case.g, case.v),
            "autograd of F.batch_norm",
        )


@ROUTES
@given(x=raw_batches(), eps=st.sampled_from([0.0, 1e-5, 0.5]), data=st.data())
def test_closed_forms_on_arbitrary_values(x, eps, data, device, route):
    """Hypothesis's own values (zeros, powers of ten, near-duplicates), training mode."""
    x = x.to(device)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    g = torch.as_tensor(rng.normal(size=x.shape), device=device)
    v = torch.as_tensor(rng.normal(size=x.shape), device=device)
    kw = {
        "weight": torch.as_tensor(rng.normal(size=x.shape[1]), device=device),
        "training": True,
        "eps": eps,
    }
    for op in OPS:
        with closed_form_route(route):
            ours = closed_form(BN, op, x, g, v, (), kw)
        cmp = compare(BN, op, x, ours, oracle(op, layer_map(BN, (), kw), x, g, v), (), kw, g=g, v=v)
        assert cmp.ok, f"{op}: {cmp} on x={x.tolist()} eps={eps}"


@given(case=batchnorm_cases(training=True))
def test_hvp_is_symmetric_in_g_and_v(case, device):
    """A Hessian is symmetric: hvp(x, g, v) = hvp(x, v, g)."""
    case = _to(case, device)
    a = BN.hvp(case.x, case.g, case.v, **case.kwargs)
    b = BN.hvp(case.x, case.v, case.g, **case.kwargs)
    assert_agree("hvp", case, a, b, "itself with g and v swapped")


def test_eval_mode_is_affine_with_zero_curvature(device):
    case = _to(
        build_case("gaussian", (4, 3, 2), seed=1, eps=1e-5, training=False, weight_kind="mixed"),
        device,
    )
    h = BN.hvp(case.x, case.g, case.v, **case.kwargs)
    assert torch.count_nonzero(h) == 0
    scale = case.kwargs["weight"] / torch.sqrt(case.kwargs["running_var"] + 1e-5)
    assert_agree(
        "jvp",
        case,
        BN.jvp(case.x, case.v, **case.kwargs),
        case.v * scale.reshape(1, 3, 1),
        "diag(J) v",
    )


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3), (3, 2, 2, 2)])
@pytest.mark.parametrize("momentum", [0.1, 0.0, 1.0])
def test_running_statistics_update_like_torch(shape, momentum, device):
    case = _to(
        build_case("gaussian", shape, seed=7, eps=1e-5, training=True, weight_kind="mixed"), device
    )
    c = shape[1]
    ours_m, ours_v = (
        torch.randn(c, dtype=torch.float64, device=device),
        torch.rand(c, dtype=torch.float64, device=device) + 0.5,
    )
    ref_m, ref_v = ours_m.clone(), ours_v.clone()
    w, b = case.kwargs["weight"], case.kwargs["bias"]
    out = BN.forward(case.x, ours_m, ours_v, w, b, True, momentum, 1e-5)
    ref = F.batch_norm(case.x, ref_m, ref_v, w, b, True, momentum, 1e-5)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-13 * float(ref.abs().max()))
    torch.testing.assert_close(ours_m, ref_m, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(ours_v, ref_v, rtol=1e-14, atol=1e-15)


def test_closed_forms_do_not_touch_running_statistics(device):
    case = _to(
        build_case("gaussian", (4, 3), seed=2, eps=1e-5, training=True, weight_kind="ones"), device
    )
    rm, rv = (
        torch.zeros(3, dtype=torch.float64, device=device),
        torch.ones(3, dtype=torch.float64, device=device),
    )
    for op in OPS:
        closed_form(BN, op, case.x, case.g, case.v, (rm, rv), {"training": True})
        BN.stateless_forward(case.x, rm, rv, training=True)
    assert torch.equal(rm, torch.zeros_like(rm)) and torch.equal(rv, torch.ones_like(rv))


def test_eps_zero_is_accepted_where_torch_refuses(device):
    x = torch.tensor([[1.0, 2.0], [3.0, 5.0]], dtype=torch.float64, device=device)
    with pytest.raises((ValueError, RuntimeError), match="eps"):
        F.batch_norm(x, None, None, training=True, eps=0.0)
    out = BN.forward(x, None, None, training=True, eps=0.0)
    assert torch.equal(
        out, torch.tensor([[-1.0, -1.0], [1.0, 1.0]], dtype=torch.float64, device=device)
    )


@pytest.mark.gpu
def test_closed_forms_on_cuda_match_cpu():
    """The same seeded case on the GPU and on the CPU, float64 on both."""
    for op in OPS:
        cpu = build_case(
            "heavy_tailed", (8, 4, 3), seed=3, eps=1e-5, training=True, weight_kind="mixed"
        )
        gpu = _to(cpu, torch.device("cuda"))
        a = closed_form(BN, op, gpu.x, gpu.g, gpu.v, (), gpu.kwargs).cpu()
        b = closed_form(BN, op, cpu.x, cpu.g, cpu.v, (), cpu.kwargs)
        assert_agree(op, cpu, a, b, "the CPU")


def _to(case, device):
    move = lambda t: t.to(device) if isinstance(t, torch.Tensor) else t  # noqa: E731
    case.x, case.g, case.v = move(case.x), move(case.g), move(case.v)
    case.kwargs = {k: move(t) for k, t in case.kwargs.items()}
    return case


def _numpy_batchnorm(case) -> np.ndarray:
    x = case.x.cpu().numpy()
    kw = case.kwargs
    dims = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=dims, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=dims, keepdims=True)
    out = (x - mu) / np.sqrt(var + kw["eps"]) * kw["weight"].cpu().numpy().reshape(shape)
    return out + kw["bias"].cpu().numpy().reshape(shape)


@pytest.mark.parametrize("family", ["gaussian", "huge_scale", "two_valued"])
def test_error_model_detects_small_errors(family, device):
    """The check can fail: a relative error of 1e-11, far above float64 rounding on a
    well-conditioned batch, is reported as a disagreement."""
    case = _to(
        build_case(family, (16, 3), seed=5, eps=1e-5, training=True, weight_kind="positive"), device
    )
    for op in ("forward",) + OPS:
        ref = oracle(op, layer_map(BN, (), case.kwargs), case.x, case.g, case.v)
        good = closed_form(BN, op, case.x, case.g, case.v, (), case.kwargs)
        assert compare(BN, op, case.x, good, ref, (), case.kwargs, g=case.g, v=case.v).ok
        off = good * (1 + 1e-11 * torch.sign(case.v))
        assert not compare(BN, op, case.x, off, ref, (), case.kwargs, g=case.g, v=case.v).ok, op


@pytest.mark.parametrize("family", ["gaussian", "near_constant", "one_outlier"])
def test_error_model_detects_a_wrong_coefficient(family, device):
    """ "2ab" for "3ab" in the hvp, a slip a hand derivation makes, is caught even on a
    near-constant batch (kappa ~ 1e5..1e9 with eps = 0)."""
    case = _to(
        build_case(family, (16, 3), seed=5, eps=0.0, training=True, weight_kind="positive"), device
    )
    kw, x, g, v = case.kwargs, case.x, case.g, case.v
    sigma = x.var(0, correction=0).sqrt()
    yhat = (x - x.mean(0)) / sigma
    a, b = (yhat * v).mean(0), (yhat * g).mean(0)
    wrong = BN.hvp(x, g, v, **kw) - kw["weight"] / sigma**2 * a * b * yhat
    ref = oracle("hvp", layer_map(BN, (), kw), x, g, v)
    assert not compare(BN, "hvp", x, wrong, ref, (), kw, g=g, v=v).ok


@pytest.mark.parametrize("family", ["gaussian", "one_outlier"])
def test_error_model_detects_a_forgotten_eps(family, device):
    """A backward pass that uses sqrt(var) where sqrt(var + eps) belongs is caught."""
    case = _to(
        build_case(family, (16, 3), seed=5, eps=0.5, training=True, weight_kind="positive"), device
    )
    kw, x, g = case.kwargs, case.x, case.g
    var = x.var(0, correction=0)
    wrong = BN.vjp(x, g, **kw) * (var + kw["eps"]).sqrt() / var.sqrt()
    ref = oracle("vjp", layer_map(BN, (), kw), x, g)
    assert not compare(BN, "vjp", x, wrong, ref, (), kw, g=g).ok


@pytest.mark.parametrize("op", OPS)
def test_differentiable_route_equals_fast_route(op, device):
    """The closed forms take an in-place fast route on plain tensors and an out-of-place
    route when autograd tracks an input; both give the same numbers."""
    case = _to(
        build_case(
            "heavy_tailed", (64, 3, 5), seed=4, eps=1e-5, training=True, weight_kind="mixed"
        ),
        device,
    )
    fast = closed_form(BN, op, case.x, case.g, case.v, (), case.kwargs)
    x = case.x.clone().requires_grad_(True)
    tracked = closed_form(BN, op, x, case.g, case.v, (), case.kwargs)
    assert tracked.requires_grad
    assert_agree(op, case, fast, tracked.detach(), "the differentiable route")


@pytest.mark.parametrize("via", ["torch.func.jvp", "forward_ad.dual_level"])
def test_forward_mode_ad_through_the_closed_form_vjp_gives_the_hvp(via, device):
    """Forward-mode AD tracks a 2-D batch only through tangents, which the fused kernels (no
    AD) must notice: the tangent of ``x -> J(x)^T g`` along ``v`` is the Hessian-vector
    product of ``<g, BN(x)>``, computed here on the plain fast route."""
    case = _to(
        build_case("gaussian", (64, 3), seed=6, eps=1e-5, training=True, weight_kind="mixed"),
        device,
    )
    kw = case.kwargs
    if via == "torch.func.jvp":
        _, tangent = torch.func.jvp(lambda x: BN.vjp(x, case.g, **kw), (case.x,), (case.v,))
    else:
        with torch.autograd.forward_ad.dual_level():
            dual = torch.autograd.forward_ad.make_dual(case.x, case.v)
            tangent = torch.autograd.forward_ad.unpack_dual(BN.vjp(dual, case.g, **kw)).tangent
    assert tangent is not None
    assert_agree(
        "hvp", case, BN.hvp(case.x, case.g, case.v, **kw), tangent, "forward-mode AD of the vjp"
    )


def test_huge_finite_values_are_not_mistaken_for_non_finite(device):
    """The finiteness check sums first; a sum that overflows must fall back to a scan."""
    x = torch.tensor([[1e308, 1.0], [1e308, 2.0]], dtype=torch.float64, device=device)
    stats = (
        torch.tensor([1e308, 0.0], dtype=torch.float64, device=device),
        torch.ones(2, dtype=torch.float64, device=device),
    )
    out = BN.forward(x, *stats, training=False, eps=1e-5)
    assert torch.isfinite(out).all()


def test_variance_overflow_is_a_clear_error(device):
    x = torch.tensor([[1e200, 1.0], [-1e200, 2.0]], dtype=torch.float64, device=device)
    with pytest.raises(NonFiniteInputError, match="variance of channel 0 overflows"):
        BN.forward(x, training=True)


def test_adjacent_floats_have_nonzero_variance(device):
    """[a, nextafter(a)] is not constant: eps = 0 must not raise (torch.var_mean says var = 0).
    No digit of the output is right (the mean is not representable between the two), and
    the condition estimate says so: u kappa is about 1."""
    import math

    a = 1e-6
    x = torch.tensor([[1.0, a], [0.0, math.nextafter(a, 1)]], dtype=torch.float64, device=device)
    out = BN.forward(x, training=True, eps=0.0)
    assert torch.isfinite(out).all()
    kappa = BN.condition(x, training=True, eps=0.0)
    assert kappa[1] > 0.5 / unit_roundoff(torch.float64) and kappa[0] < 3  # u kappa ~ 1: no digit


@pytest.mark.parametrize("op", ["vjp", "hvp"])
def test_fused_route_is_taken_for_2d_cpu_batches(op, monkeypatch):
    """The fused kernels really run (so the route tests above test them), and agree with
    the torch route to the error model."""
    if not fused.ENABLED:
        pytest.skip("the fused route needs Numba (not installed or BNTHEORY_FUSED=0)")
    calls = []
    kernel = {"vjp": "jacobian", "hvp": "hvp"}[op]
    real = getattr(fused, kernel)
    monkeypatch.setattr(fused, kernel, lambda *a: calls.append(1) or real(*a))
    gen = torch.Generator().manual_seed(3)
    x, g, v = (torch.randn(200, 7, dtype=torch.float64, generator=gen) for _ in range(3))
    x[5] += 1e4  # one outlier sample: the blocked statistics must stay two-pass accurate
    kw = {
        "weight": torch.randn(7, dtype=torch.float64, generator=gen),
        "training": True,
        "eps": 1e-5,
    }
    ours = closed_form(BN, op, x, g, v, (), kw)
    assert calls, "the fused kernels were not used for a contiguous 2-D float64 CPU batch"
    with closed_form_route("torch"):
        plain = closed_form(BN, op, x, g, v, (), kw)
    assert len(calls) == 1, "the torch route called the fused kernels"
    assert compare(BN, op, x, ours, plain, (), kw, g=g, v=v).ok


def test_fused_kernels_give_the_same_bits_on_any_number_of_threads_and_row_order(monkeypatch):
    """Blocks of samples, not threads, fix the order of every sum (the merge tree runs in one
    thread), so the fused results do not depend on how many Numba threads compute them, nor on
    the order in which the output pass takes its rows (``fused.last_first``, by the L2 size).
    The test suite's workers run one thread each: this test runs the kernels on several."""
    if not fused.ENABLED:
        pytest.skip("the fused route needs Numba (not installed or BNTHEORY_FUSED=0)")
    import numba

    most = numba.config.NUMBA_NUM_THREADS
    if most < 2:
        pytest.skip(f"needs NUMBA_NUM_THREADS >= 2, got {most}")
    gen = torch.Generator().manual_seed(5)
    x, g, v = (
        torch.randn(700, 24, dtype=torch.float64, generator=gen) * 3 + 1 for _ in range(3)
    )  # 11 blocks
    w = torch.randn(24, dtype=torch.float64, generator=gen)
    saved = numba.get_num_threads()
    results = {}
    try:
        for n in sorted({1, 2, most}):
            numba.set_num_threads(n)
            for l2, last_first in ((None, True), (0, False)):  # unknown L2: last row first
                monkeypatch.setattr(fused, "L2_BYTES", l2)
                assert fused.last_first(3, x.numpy()) is last_first
                results[n, last_first] = (
                    fused.hvp(x, g, v, w, 1e-5),
                    fused.jacobian(x, g, w, 1e-5),
                )
    finally:
        numba.set_num_threads(saved)
    (hvp1, s1), (jac1, t1) = results[1, False]
    assert s1 == t1 == fused.OK
    for (hvp, s), (jac, t) in results.values():
        assert s == t == fused.OK
        assert torch.equal(hvp, hvp1) and torch.equal(jac, jac1)


def test_fused_kernels_decline_what_they_cannot_vouch_for():
    if not fused.ENABLED:
        pytest.skip("the fused route needs Numba (not installed or BNTHEORY_FUSED=0)")
    gen = torch.Generator().manual_seed(2)
    x, g, v = (torch.randn(130, 4, dtype=torch.float64, generator=gen) for _ in range(3))
    out, status = fused.hvp(x, g, v, None, 1e-5)
    assert status == fused.OK
    with closed_form_route("torch"):
        assert compare(
            BN, "hvp", x, out, BN.hvp(x, g, v, training=True), (), {"training": True}, g=g, v=v
        ).ok
    for which in range(3):
        bad = [x.clone(), g.clone(), v.clone()]
        bad[which][129, 3] = math.nan  # in the last, short statistics block
        assert fused.hvp(*bad, None, 1e-5)[1] == fused.NONFINITE_MEAN
        assert fused.jacobian(bad[0], bad[which or 1], None, 1e-5)[1] == fused.NONFINITE_MEAN
    tiny = torch.tensor([[1e-170, 1.0], [2e-170, 2.0]], dtype=torch.float64)  # var underflows to 0
    ones = torch.ones_like(tiny)
    assert fused.hvp(tiny, ones, ones, None, 0.0)[1] == fused.BAD_SIGMA
    assert fused.jacobian(tiny, ones, None, 0.0)[1] == fused.BAD_SIGMA
    assert fused.jacobian(tiny, ones, None, 1e-5)[1] == fused.OK


def _bad_input_cases():
    """(description, x, w, eps) with one bad thing each, ``w`` the tangent or cotangent: the
    fused kernels decline these (a non-finite mean, or a failing standard deviation) or
    ``parse_args`` refuses them first, and the error must be the torch route's."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(70, 3, dtype=torch.float64, generator=gen)  # two statistics blocks
    w = torch.randn(70, 3, dtype=torch.float64, generator=gen)

    def put(t, index, value):
        t = t.clone()
        t[index] = value
        return t

    return [
        ("nan in x", put(x, (66, 1), math.nan), w, 1e-5),
        ("inf in x", put(x, (3, 2), math.inf), w, 1e-5),
        ("-inf in x, eps 0", put(x, (0, 0), -math.inf), w, 0.0),
        ("nan in w", x, put(w, (2, 1), math.nan), 1e-5),
        ("inf in w", x, put(w, (69, 0), math.inf), 1e-5),
        ("finite x whose sum overflows", put(x, (slice(None), 1), 1e307), w, 1e-5),
        ("variance overflow", put(put(x, (0, 0), 1e200), (1, 0), -1e200), w, 1e-5),
        (
            "variance underflow, eps 0",
            torch.tensor([[1e-170, 1.0], [2e-170, 2.0]], dtype=torch.float64),
            torch.ones(2, 2, dtype=torch.float64),
            0.0,
        ),
        ("constant channel, eps 0", put(x, (slice(None), 2), 3.0), w, 0.0),
    ]


@pytest.mark.parametrize("op", ["jvp", "vjp", "hvp, w as g", "hvp, w as v"])
@pytest.mark.parametrize("case", _bad_input_cases(), ids=lambda c: c[0])
def test_fused_route_reports_bad_input_like_the_torch_route(case, op):
    """Every bad input raises the same error, with the same message, on both CPU routes: the
    fused route leaves the finiteness checks to its own statistics, so this shows that
    nothing is lost on the way."""
    if not fused.ENABLED:
        pytest.skip("the fused route needs Numba (not installed or BNTHEORY_FUSED=0)")
    _, x, w, eps = case
    ones = torch.ones_like(x)
    tangents = {"jvp": (w,), "vjp": (w,), "hvp, w as g": (w, ones), "hvp, w as v": (ones, w)}[op]
    errors = {}
    for route in ("fused", "torch"):
        with closed_form_route(route), pytest.raises(BNTheoryError) as info:
            getattr(BN, op[:3])(x, *tangents, None, None, None, None, True, 0.1, eps)
        errors[route] = (type(info.value), str(info.value))
    assert errors["fused"] == errors["torch"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "accumulators,channels,blocks", [(7, 512, 16), (4, 7, 3), (7, 1000, 2), (4, 4096, 1)]
)
def test_scratch_spaces_the_accumulators_around_the_4k_ring(accumulators, channels, blocks, dtype):
    """Every accumulator of every block lies at the input's offset + (i + 1) spacing modulo
    4096 bytes, and none overlaps another or leaves the buffer."""
    x = np.empty((3, channels), dtype=dtype)[1:]  # an input not at the start of its allocation
    buf, (first, acc, blk) = fused.scratch_buffer(x, accumulators, blocks)
    es = x.itemsize
    spacing = 4096 // (accumulators + 1) // 64 * 64
    base = buf.ctypes.data
    spans = []
    for b in range(blocks):
        for i in range(accumulators):
            start = first + b * blk + i * acc
            assert (base + start * es - x.ctypes.data) % 4096 == (i + 1) * spacing
            spans.append((start, start + channels))
    spans.sort()
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:])), "accumulators overlap"
    assert spans[0][0] >= 0 and spans[-1][1] <= buf.size


@pytest.mark.parametrize(
    "entries,expected",
    [
        (
            {
                "index0": ("1", "Data", "48K"),
                "index2": ("2", "Unified", "2048K"),
                "index3": ("3", "Unified", "480M"),
            },
            2 << 20,
        ),
        ({"index1": ("1", "Instruction", "32K"), "index2": ("2", "Unified", "1M")}, 1 << 20),
        ({"index0": ("1", "Data", "32K")}, None),  # no L2 listed
        ({"index2": ("2", "Unified", "big")}, None),  # a size it cannot read
        ({}, None),  # no sysfs at all
    ],
)
def test_l2_size_is_read_from_sysfs(tmp_path, entries, expected):
    for name, (level, kind, size) in entries.items():
        (tmp_path / name).mkdir()
        for field, text in (("level", level), ("type", kind), ("size", size)):
            (tmp_path / name / field).write_text(text + "\n")
    assert fused.l2_bytes(tmp_path) == expected
