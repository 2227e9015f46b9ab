"""The spectrum API against the dense Hessian of small networks, and its modes.

The dense reference is ``torch.func.hessian`` of the loss as a function of the flat
parameter vector (``torch.func.functional_call``), independent of the double-backward
products under test.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from scipy import stats

from bntheory.errors import InvalidArgumentError
from bntheory.landscape import spectrum as sp
from bntheory.landscape.data import synthetic_classification
from bntheory.landscape.models import MLP, VGG, loss_fn
from bntheory.landscape.state import preserved

LOSS = loss_fn("mlp")


def small(norm: str = "batchnorm", seed: int = 1):
    """A 4-6-3 MLP (about 60 parameters) and a batch of 16."""
    torch.manual_seed(seed)
    model = MLP(4, (6,), 3, norm=norm).train()
    data = synthetic_classification(48, dim=4, classes=3, seed=2)
    return model, data.x_train[:16], data.y_train[:16], data


def dense_hessian(model, x, y, mode: str = "train", names=None) -> np.ndarray:
    """``torch.func.hessian`` of the loss in the flat parameters (``names``: only those)."""
    m = copy.deepcopy(model).double().train(mode == "train")
    if mode == "train":  # batch statistics only: no in-place running-statistics update
        for mod in m.modules():
            if hasattr(mod, "running_mean"):
                mod.running_mean = mod.running_var = None
    named = [(n, p) for n, p in m.named_parameters() if names is None or n in names]
    shapes = [p.shape for _, p in named]
    sizes = [p.numel() for _, p in named]
    flat0 = torch.cat([p.detach().reshape(-1) for _, p in named])
    fixed = {n: p.detach() for n, p in m.named_parameters() if names is not None and n not in names}
    buffers = {n: b.clone() for n, b in m.named_buffers()}

    def f(flat):
        parts = dict(
            zip([n for n, _ in named], [t.reshape(s) for t, s in zip(flat.split(sizes), shapes)])
        )
        return LOSS(
            torch.func.functional_call(m, ({**parts, **fixed}, dict(buffers)), (x.double(),)), y
        )

    return torch.func.hessian(f)(flat0).detach().numpy()


class Dense:
    """A dense symmetric matrix as an estimator's operator (statistics of the estimators)."""

    def __init__(self, a: np.ndarray):
        self.a, self.n, self.products = a, a.shape[0], 0

    def matvec(self, v):
        self.products += 1
        return self.a @ v


@pytest.mark.parametrize("norm", ["batchnorm", "none"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_top_eigenpairs_match_the_dense_hessian_to_1e_8(norm, mode):
    model, x, y, _ = small(norm)
    h = dense_hessian(model, x, y, mode)
    op = sp.Hessian(model, LOSS, (x, y), mode)
    assert np.allclose(op.dense(), h, rtol=0, atol=1e-10 * np.abs(h).max())
    exact = np.linalg.eigvalsh(h)[::-1]
    values, vectors = sp.top_eigenpairs(op, k=4, tol=1e-12)
    scale = np.abs(exact).max()
    assert np.all(np.abs(values - exact[:4]) <= 1e-8 * scale)
    assert np.allclose(h @ vectors, vectors * values, atol=1e-7 * scale)


def test_the_mode_is_honoured():
    """Train and eval differ on a BatchNorm network and agree on one without normalization."""
    model, x, y, _ = small("batchnorm")
    with torch.no_grad():  # running statistics unlike the batch's, as after training
        for m in model.modules():
            if hasattr(m, "running_var"):
                m.running_var.fill_(3.0)
                m.running_mean.fill_(0.5)
    train = sp.spectrum(model, LOSS, (x, y), "train", k=3, tol=1e-10, slq_runs=1, slq_steps=8)
    evals = sp.spectrum(model, LOSS, (x, y), "eval", k=3, tol=1e-10, slq_runs=1, slq_steps=8)
    assert train.mode == "train" and evals.mode == "eval"
    assert train.to_json()["mode_words"].startswith("train (batch")
    assert abs(train.eigenvalues[0] - evals.eigenvalues[0]) > 1e-3 * abs(train.eigenvalues[0])
    plain, x, y, _ = small("none")
    a = sp.spectrum(plain, LOSS, (x, y), "train", k=3, tol=1e-12, slq_runs=1, slq_steps=8)
    b = sp.spectrum(plain, LOSS, (x, y), "eval", k=3, tol=1e-12, slq_runs=1, slq_steps=8)
    assert np.allclose(a.eigenvalues, b.eigenvalues, rtol=1e-10)
    assert sp.has_running_statistics(model) and not sp.has_running_statistics(plain)


@pytest.mark.parametrize("norm", ["batchnorm", "noisybatchnorm"])
def test_parameters_buffers_flags_and_rng_are_exactly_as_before(norm):
    model, x, y, _ = small(norm)
    inner = next(m for m in model.modules() if m is not model)
    inner.eval()  # a flag the caller set: kept
    flags = [m.training for m in model.modules()]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(7)
    rng = torch.get_rng_state()
    for mode in ("train", "eval"):
        sp.spectrum(
            model,
            LOSS,
            (x, y),
            mode,
            k=2,
            trace=("hutchinson", "hutchpp"),
            trace_products=6,
            slq_steps=5,
            slq_runs=2,
        )
    assert [m.training for m in model.modules()] == flags
    after = model.state_dict()
    assert all(
        torch.equal(before[k], after[k]) and before[k].dtype == after[k].dtype for k in before
    )
    assert torch.equal(rng, torch.get_rng_state())
    assert all(p.grad is None for p in model.parameters())


def test_noisy_batchnorm_gives_one_fixed_function():
    """Every forward pass of a product sees the same noise: the operator is symmetric and its
    products reproducible."""
    model, x, y, _ = small("noisybatchnorm")
    op = sp.Hessian(model, LOSS, (x, y))
    h = op.dense()
    again = sp.Hessian(model, LOSS, [(x, y)], "train").dense()
    raw = np.stack([op.matvec(e) for e in np.eye(op.n)], axis=1)
    assert np.allclose(raw, raw.T, atol=1e-10 * np.abs(raw).max())
    assert np.array_equal(h, again)


def test_a_loader_averages_the_batches_hessians_by_size():
    model, _, _, data = small("batchnorm")
    b1 = (data.x_train[:16], data.y_train[:16])
    b2 = (data.x_train[16:40], data.y_train[16:40])
    expected = (16 * dense_hessian(model, *b1) + 24 * dense_hessian(model, *b2)) / 40
    op = sp.Hessian(model, LOSS, [b1, b2])
    assert op.batches.__len__() == 2
    assert np.allclose(op.dense(), expected, atol=1e-10 * np.abs(expected).max())


def test_a_block_is_the_diagonal_block_of_its_parameters():
    model, x, y, _ = small("batchnorm")
    first = sp.blocks(model)[0]
    names = [n for n, _ in model.named_parameters() if n.startswith(first + ".")]
    assert names
    op = sp.Hessian(model, LOSS, (x, y), block=first)
    assert op.names == names
    assert np.allclose(op.dense(), dense_hessian(model, x, y, names=set(names)), atol=1e-10)


def test_gradient_share_is_the_gradients_energy_in_the_top_eigenspace():
    model, x, y, _ = small("batchnorm")
    h = dense_hessian(model, x, y)
    w, u = np.linalg.eigh(h)
    g = sp.Hessian(model, LOSS, (x, y)).gradient()
    top = u[:, np.argsort(-w)[:3]]
    res = sp.spectrum(model, LOSS, (x, y), k=3, tol=1e-12, slq_runs=1, slq_steps=4)
    assert res.gradient_share == pytest.approx(float(np.sum((top.T @ g) ** 2) / (g @ g)), rel=1e-8)


def test_slq_moments_are_exact_below_twice_the_steps():
    model, x, y, _ = small("batchnorm")
    h = dense_hessian(model, x, y)
    op = sp.Hessian(model, LOSS, (x, y))
    v = np.random.default_rng(3).choice([-1.0, 1.0], size=op.n)
    q = sp.lanczos(op, v, 6)
    u = v / np.linalg.norm(v)
    scale = np.abs(np.linalg.eigvalsh(h)).max()
    power = u.copy()
    for j in range(12):
        assert q.moment(j) == pytest.approx(float(u @ power), abs=1e-9 * scale**j)
        power = h @ power
    full = sp.lanczos(op, v, op.n + 3)  # the whole Krylov space: the measure itself
    w, e = np.linalg.eigh(h)
    for j in range(5):
        assert full.moment(j) == pytest.approx(float(((e.T @ u) ** 2) @ w**j), abs=1e-9 * scale**j)
    runs = sp.slq(op, steps=op.n, runs=4, seed=0)
    d = sp.density(runs, points=2001)
    grid, dens = np.array(d["grid"]), np.array(d["density"])
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-6)  # a probability density
    mean = np.trapezoid(dens * grid, grid)
    assert mean == pytest.approx(np.mean([r.moment(1) for r in runs]), abs=1e-6 * scale)
    assert len(d["spread"]) == 2001 and max(d["spread"]) > 0


def test_trace_estimates_are_unbiased_with_honest_standard_errors():
    """Over 200 seeds on the dense Hessian: the exact trace lies within the reported 99 %
    interval (Student's t on the standard error) in at least 95 % of seeds and within the
    95 % interval in at least 92 % (10-30 probes: the normal approximation is rough), within 3
    standard errors in at least 95 %, and within one in at most 85 % (an inflated standard
    error would cover more); the same for Hutch++."""
    model, x, y, _ = small("batchnorm")
    h = dense_hessian(model, x, y)
    exact = float(np.trace(h))
    for method in (sp.hutchinson, sp.hutchpp):
        z, inside = [], []
        for seed in range(200):
            op = Dense(h)
            est = method(op, 30, seed)
            assert op.products == 30 == est.products
            z.append(abs(est.estimate - exact) / est.stderr)
            inside.append([lo <= exact <= hi for lo, hi in (est.interval(0.99), est.interval())])
        z, inside = np.array(z), np.array(inside)
        assert inside[:, 0].mean() >= 0.95 and inside[:, 1].mean() >= 0.92, method
        assert np.mean(z <= 1.96) >= 0.90 and np.mean(z <= 3) >= 0.95, method
        assert np.mean(z <= 1.0) <= 0.85, method
    full = sp.hutchpp(Dense(h), 3 * h.shape[0] + 3, 0)  # the sketch spans the whole space
    assert full.estimate == pytest.approx(exact, rel=1e-9)


def test_trace_on_the_network_agrees_with_the_dense_trace():
    model, x, y, _ = small("batchnorm")
    exact = float(np.trace(dense_hessian(model, x, y)))
    res = sp.spectrum(
        model, LOSS, (x, y), k=0, trace=("hutchinson", "hutchpp"), trace_products=30, slq_runs=0
    )
    for t in res.traces:
        assert abs(t.estimate - exact) <= stats.t.ppf(0.9995, 29) * t.stderr, t


def test_outliers_are_the_top_eigenvalues_beyond_twice_the_bulk_edge():
    """A spectrum of a 300-wide bulk in [0, 1] and three eigenvalues 20, 30, 50."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(303, 303)))
    lam = np.concatenate([rng.uniform(0, 1, 300), [20.0, 30.0, 50.0]])
    op = Dense((q * lam) @ q.T)
    runs = sp.slq(op, steps=60, runs=4, seed=1)
    edge = sp.bulk_edge(runs)
    assert 0.8 <= edge <= 1.05
    top, _ = sp.top_eigenpairs(op, k=6, tol=1e-10)
    assert sp.outliers(top, edge) == pytest.approx([50.0, 30.0, 20.0])
    _, vectors = sp.top_eigenpairs(op, k=6, tol=1e-10)
    fro2 = sp.frobenius2(op, top, vectors, 50, seed=0)
    exact = float(np.sum(lam**2))
    assert fro2 >= float(np.sum(top**2)) and fro2 == pytest.approx(exact, rel=0.01)
    # the SLQ tail: about 3 eigenvalues above 2e, carrying 3800/3900 of tr(H^2)
    count, mass = sp.tail(sp.slq(op, steps=60, runs=30, seed=2), 2 * edge, op.n)
    assert count == pytest.approx(3, abs=1.0)
    assert mass == pytest.approx(3800 / exact, abs=0.05)
    assert sp.tail(runs, 60.0, op.n) == (0.0, 0.0)  # nothing above the top eigenvalue


def test_a_vgg_spectrum_carries_its_mode_and_settings():
    torch.manual_seed(0)
    model = VGG((4, "M"), 1, 3, 4, norm="batchnorm").train()
    x, y = torch.randn(8, 1, 4, 4), torch.randint(0, 3, (8,))
    doc = sp.spectrum(model, LOSS, (x, y), k=2, slq_steps=6, slq_runs=2, points=21).to_json()
    assert doc["mode"] == "train" and doc["settings"]["bulk_mass"] == sp.BULK_MASS
    assert len(doc["density"]["grid"]) == 21 and doc["outlier_count"] >= 0
    assert doc["products"] > 0 and math.isfinite(doc["frobenius2"])


def test_bad_input_is_named():
    model, x, y, _ = small("batchnorm")
    with pytest.raises(InvalidArgumentError, match="mode"):
        sp.Hessian(model, LOSS, (x, y), "inference")
    with pytest.raises(InvalidArgumentError, match="no batch"):
        sp.Hessian(model, LOSS, [])
    with pytest.raises(InvalidArgumentError, match="the blocks are"):
        sp.Hessian(model, LOSS, (x, y), block="features")
    with pytest.raises(InvalidArgumentError, match="k must be"):
        sp.top_eigenpairs(sp.Hessian(model, LOSS, (x, y)), k=10_000)
    with pytest.raises(InvalidArgumentError, match="trace method"):
        sp.spectrum(model, LOSS, (x, y), k=0, trace=("xtrace",), slq_runs=0)


def test_preserved_restores_flags():
    model, _, _, _ = small("batchnorm")
    with preserved(model):
        model.eval()
    assert model.training and all(m.training for m in model.modules())


def test_curvlinops_estimators_run_on_bntheorys_hessian():
    curvlinops = pytest.importorskip("curvlinops")
    model, x, y, _ = small("batchnorm")
    op = sp.Hessian(model, LOSS, (x, y))
    h = op.dense()
    a = sp.curvlinops_operator(op)
    v = torch.randn(op.n, dtype=torch.float64)
    assert np.allclose((a @ v).numpy(), h @ v.numpy(), atol=1e-10)
    est = float(curvlinops.hutchpp_trace(a, 30))
    assert abs(est - np.trace(h)) <= 0.5 * np.abs(np.linalg.eigvalsh(h)).sum()


def test_batched_products_and_the_exact_diagonal():
    model, x, y, data = small("batchnorm")
    h = dense_hessian(model, x, y)
    op = sp.Hessian(model, LOSS, (x, y))
    vs = np.random.default_rng(0).normal(size=(op.n, 5))
    assert np.allclose(op.matmat(vs), h @ vs, atol=1e-10 * np.abs(h).max())
    assert op.products == 5
    assert np.allclose(op.diagonal(), np.diag(h), atol=1e-10 * np.abs(h).max())
    two = sp.Hessian(model, LOSS, [(x, y), (data.x_train[16:32], data.y_train[16:32])])
    assert np.allclose(two.matmat(vs), np.stack([two.matvec(v) for v in vs.T], axis=1))


def test_top_eigenvalue_stops_on_its_residual_bound():
    model, x, y, _ = small("batchnorm")
    h = dense_hessian(model, x, y)
    exact = np.linalg.eigvalsh(h)[-1]
    for tol in (1e-3, 1e-8):
        op = sp.Hessian(model, LOSS, (x, y))
        value, vector, products = sp.top_eigenvalue(op, tol=tol)
        assert abs(value - exact) <= tol * abs(exact) and products == op.products
        residual = np.linalg.norm(h @ vector - value * vector)
        gap = exact - np.linalg.eigvalsh(h)[-2]
        assert min(residual, residual**2 / gap) <= 2 * tol * abs(value)
    assert sp.top_eigenvalue(sp.Hessian(model, LOSS, (x, y)), tol=1e-3)[2] < products
