"""Landscape probes against analytic values, Hessian spectra against dense Hessians, ICS,
state restoration, exact resume, and the CLI's smoke preset."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from bntheory.cli import main
from bntheory.errors import UnknownLayerError
from bntheory.landscape import probes
from bntheory.landscape.data import synthetic_classification
from bntheory.landscape.models import MLP, DeepLinear, loss_fn
from bntheory.landscape.presets import get_preset
from bntheory.landscape.train import RunConfig, RunExistsError, train
from bntheory.nn import Norm

MSE = loss_fn("dln")


def regression(n=40, d=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, dtype=torch.float64, generator=gen)
    y = torch.randn(n, d, dtype=torch.float64, generator=gen)
    torch.manual_seed(seed)
    model = DeepLinear(d, depth=1).double()  # one linear map: an exactly quadratic loss
    return model, x, y


def test_probes_match_their_analytic_values_on_a_quadratic_loss():
    """L(W) = mean |W x - y|^2 has the constant Hessian V -> 2 V C, C = X^T X / n, so along
    x - eta g: loss L - eta|g|^2 + eta^2 <g, Hg>/2, predictiveness eta |Hg|, beta |Hg|/|g|."""
    model, x, y = regression()
    etas = (0.05, 0.1, 0.3)
    out = probes.gradient_probes(model, MSE, x, y, etas)
    w = model.net[0].weight.detach()
    g = 2 * (x @ w.T - y).T @ x / x.shape[0]
    hg = 2 * g @ (x.T @ x / x.shape[0])
    l0 = float(((x @ w.T - y) ** 2).sum(1).mean())
    assert out["loss"] == pytest.approx(l0, rel=1e-12)
    assert out["grad_norm"] == pytest.approx(float(g.norm()), rel=1e-12)
    for eta, loss, pred in zip(etas, out["loss_along"], out["predictiveness"]):
        expected = l0 - eta * float((g * g).sum()) + eta**2 / 2 * float((g * hg).sum())
        assert loss == pytest.approx(expected, rel=1e-10)
        assert pred == pytest.approx(eta * float(hg.norm()), rel=1e-10)
    assert out["beta_smoothness"] == pytest.approx(float(hg.norm() / g.norm()), rel=1e-10)


def test_eigsh_top_eigenvalue_matches_the_dense_hessian():
    torch.manual_seed(1)
    model = MLP(4, (5,), 3, norm="batchnorm").double().train()
    data = synthetic_classification(16, dim=4, classes=3, seed=2, dtype=torch.float64)
    x, y = data.x_train, data.y_train
    loss = loss_fn("mlp")
    op = probes.batch_hessian(model, loss, x, y)
    dense = np.stack([op.matvec(e) for e in np.eye(op.n)])
    assert np.allclose(dense, dense.T, atol=1e-10)
    eig = np.linalg.eigvalsh((dense + dense.T) / 2)
    top = eig[np.argmax(np.abs(eig))]
    res = probes.hessian_top(model, loss, x, y, k=1, tol=1e-8)
    assert res["eigenvalues"][0] == pytest.approx(top, rel=1e-6)
    assert res["hvp_products"] > 0 and res["mode"].startswith("train")
    power = probes.power_iteration(probes.batch_hessian(model, loss, x, y), tol=1e-9)
    assert abs(power["eigenvalue"]) == pytest.approx(abs(top), rel=1e-4)


def test_krylov_optimum_bounds_power_iteration_and_eigsh():
    """The Krylov trace is the best any product-based method can do from the same start:
    it never falls behind power iteration's Rayleigh quotients or eigsh's answer after as
    many products, it only improves, and it is exact once the space is the whole space."""
    from scipy.sparse.linalg import eigsh

    torch.manual_seed(1)
    model = MLP(4, (5,), 3, norm="batchnorm").double().train()
    data = synthetic_classification(16, dim=4, classes=3, seed=2, dtype=torch.float64)
    op = probes.batch_hessian(model, loss_fn("mlp"), data.x_train, data.y_train)
    dense = np.stack([op.matvec(e) for e in np.eye(op.n)])
    eig = np.linalg.eigvalsh((dense + dense.T) / 2)
    trace = probes.krylov_optimum_trace(op, op.n + 5)
    assert len(trace) == op.n
    low, high = np.array(trace).T
    scale = np.abs(eig).max()
    assert np.all(np.diff(high) >= -1e-12 * scale) and np.all(np.diff(low) <= 1e-12 * scale)
    assert np.all(high <= eig[-1] + 1e-10 * scale) and np.all(low >= eig[0] - 1e-10 * scale)
    assert high[-1] == pytest.approx(eig[-1], rel=1e-9) and low[-1] == pytest.approx(
        eig[0], rel=1e-9
    )
    # power iteration from the same start vector: after k products its estimate lies in [low, high]
    v = np.random.default_rng(0).normal(size=op.n)
    v /= np.linalg.norm(v)
    for k in range(12):
        hv = dense @ v
        assert low[k] - 1e-10 * scale <= v @ hv <= high[k] + 1e-10 * scale
        v = hv / np.linalg.norm(hv)
    # eigsh: whatever it returns after p products is within the Krylov space's range at p
    for ncv in (3, 5):
        counted = probes.batch_hessian(model, loss_fn("mlp"), data.x_train, data.y_train)
        val = eigsh(
            counted.linear_operator(),
            k=1,
            which="LA",
            tol=1e-2,
            ncv=ncv,
            v0=np.random.default_rng(0).normal(size=op.n),
            return_eigenvectors=False,
        )[0]
        p = min(counted.products, op.n)
        assert val <= high[p - 1] + 1e-10 * scale


def test_first_within_counts_products_after_which_the_estimates_stay_close():
    assert probes.first_within([1.0, 2.0, 1.0001, 0.99995], 1.0, 1e-3) == 3
    assert probes.first_within([1.0, 1.0, 1.0], 1.0, 1e-3) == 1
    assert probes.first_within([1.0, 0.5], 1.0, 1e-3) is None
    assert probes.first_within([], 1.0, 1e-3) is None


def test_ics_is_zero_where_the_preceding_layers_do_not_move():
    torch.manual_seed(0)
    model = MLP(6, (8, 8), 3, norm="batchnorm").double().train()
    data = synthetic_classification(32, dim=6, classes=3, seed=0, dtype=torch.float64)
    loss = loss_fn("mlp")
    rows = probes.internal_covariate_shift(model, loss, data.x_train, data.y_train, lr=0.1)
    assert [r["layer"] for r in rows] == ["net.1.weight", "net.4.weight", "net.7.weight"]
    assert rows[0]["l2"] == 0.0 and rows[0]["cos"] == pytest.approx(1.0)  # nothing precedes layer 1
    assert rows[1]["l2"] > 0 and rows[2]["l2"] > 0
    still = probes.internal_covariate_shift(model, loss, data.x_train, data.y_train, lr=0.0)
    assert all(r["l2"] == 0.0 for r in still)


@pytest.mark.parametrize("norm", ["batchnorm", "noisybatchnorm"])
def test_probes_restore_parameters_running_statistics_and_rng(norm):
    torch.manual_seed(0)
    model = MLP(6, (8,), 3, norm=norm).train()
    data = synthetic_classification(32, dim=6, classes=3, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    loss = loss_fn("mlp")
    probes.gradient_probes(model, loss, data.x_train, data.y_train, (0.1, 0.2))
    probes.internal_covariate_shift(model, loss, data.x_train, data.y_train, 0.1)
    probes.activation_stats(model, data.x_train)
    probes.hessian_top(model, loss, data.x_train, data.y_train)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(rng, torch.get_rng_state())


def test_resume_after_a_kill_gives_the_same_numbers(tmp_path):
    p = get_preset("smoke")
    cfg = RunConfig(
        **{
            **p.base.__dict__,
            "norm": "noisybatchnorm",
            "steps": 20,
            "checkpoint_every": 5,
            "probe_every": 7,
            "hessian_every": 14,
        }
    )
    data = p.load(0, None)
    whole = train(cfg, data, tmp_path / "whole")

    class Killed(Exception):
        pass

    def kill(step):
        if step == 12:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, data, tmp_path / "killed", on_step=kill)
    assert (tmp_path / "killed" / "checkpoint.pt").exists()
    with pytest.raises(RunExistsError, match="resume"):
        train(cfg, data, tmp_path / "killed")  # never silently restarted over a run
    resumed = train(cfg, data, tmp_path / "killed", resume=True)
    assert json.dumps(resumed, sort_keys=True) == json.dumps(whole, sort_keys=True)
    assert not (tmp_path / "killed" / "checkpoint.pt").exists()
    assert (tmp_path / "killed" / "metrics.csv").read_text().startswith("schema,step,")


def test_divergence_is_recorded_not_hidden(tmp_path):
    p = get_preset("smoke")
    cfg = RunConfig(**{**p.base.__dict__, "norm": "none", "lr": 1e6, "steps": 10})
    doc = train(cfg, p.load(0, None), tmp_path / "r")
    assert doc["diverged_at"] is not None and doc["steps_done"] < 10


def test_norm_layers():
    x = torch.randn(64, 5, dtype=torch.float64) * 3 + 1
    torch.manual_seed(0)
    linf = Norm("linfbatchnorm", 5).double().train()
    # gamma = 1: max |c| / max |c|
    assert float(linf(x).detach().abs().amax()) == pytest.approx(1.0, rel=1e-4)
    noisy = Norm("noisybatchnorm", 5).double()
    bn = Norm("batchnorm", 5).double()
    assert not torch.allclose(noisy.train()(x), bn.train()(x))
    noisy.eval(), bn.eval()
    assert torch.equal(noisy(x), bn(x))  # no noise at evaluation
    with pytest.raises(UnknownLayerError, match="known: none, batchnorm, groupnorm"):
        Norm("batchnrom", 5)


def test_noisy_norm_draws_the_papers_noise_from_the_global_rng():
    """Norm("noisybatchnorm") is BatchNorm, then s * a + n with the paper's draws, in this
    order from torch's global RNG (so runs and checkpoints replay the same noise)."""
    x = torch.randn(32, 4, dtype=torch.float64)
    noisy = Norm("noisybatchnorm", 4).double().train()
    torch.manual_seed(3)
    out = noisy(x)
    torch.manual_seed(3)
    a = torch.nn.functional.batch_norm(
        x,
        None,
        None,
        torch.ones(4, dtype=torch.float64),
        torch.zeros(4, dtype=torch.float64),
        True,
        0.1,
        1e-5,
    )
    mu_t = torch.empty((), dtype=torch.float64).uniform_(-0.5, 0.5)
    sigma_t = torch.empty((), dtype=torch.float64).uniform_(1.0, 1.25)
    shift = torch.empty_like(a).uniform_(-0.1, 0.1) + mu_t
    scale = torch.randn_like(a) * 0.1 + sigma_t
    torch.testing.assert_close(out, scale * a + shift, rtol=1e-14, atol=1e-14)
    assert -0.6 <= float(shift.mean()) <= 0.6 and 0.9 <= float(scale.mean()) <= 1.35


@pytest.mark.parametrize("name", [n for n in __import__("bntheory").layer_names()])
@pytest.mark.parametrize("shape", [(16, 8), (8, 8, 3, 3)])
def test_every_registered_layer_works_inside_a_network(name, shape):
    """Norm(name) trains (gradients flow to gamma and beta) and evaluates, on dense and conv
    activations; InstanceNorm refuses (N, C) activations, which have no spatial axis."""
    from bntheory.errors import ShapeMismatchError

    x = torch.randn(*shape, dtype=torch.float64)
    layer = Norm(name, 8).double().train()
    if name == "instancenorm" and len(shape) == 2:
        with pytest.raises(ShapeMismatchError, match="spatial"):
            layer(x)
        return
    out = layer(x)
    assert out.shape == x.shape and bool(torch.isfinite(out).all())
    out.square().sum().backward()
    assert layer.weight.grad is not None and float(layer.weight.grad.abs().sum()) > 0
    layer.eval()
    assert torch.isfinite(layer(x)).all()


def test_landscape_cli_smoke(tmp_path, capsys):
    out = tmp_path / "smoke"
    assert main(["landscape", "--preset", "smoke", "--out", str(out)]) == 0
    doc = json.loads((out / "smoke.json").read_text())
    assert doc["schema"] == 1 and {s["norm"] for s in doc["summaries"]} == {"none", "batchnorm"}
    for s in doc["summaries"]:
        assert s["diverged_at"] is None and math.isfinite(s["beta_smoothness"]) and s["hessian_top"]
    for fig in ("curves", "landscape", "ics", "activations"):
        assert (out / f"smoke-{fig}.png").read_bytes().startswith(b"\x89PNG")
    assert "beta-smoothness" in (out / "smoke.md").read_text()
    # runs exist: no overwrite
    assert main(["landscape", "--preset", "smoke", "--out", str(out)]) == 2
    assert "resume" in capsys.readouterr().err
    assert main(["landscape", "--preset", "smoke", "--out", str(out), "--resume"]) == 0
    typo = ["landscape", "--preset", "smoke", "--norm", "batchnrom", "--out", str(tmp_path / "x")]
    assert main(typo) == 2
    assert main(["landscape", "--preset", "cifar10-vgg", "--out", str(tmp_path / "c")]) == 2


def test_landscape_command_runs_weight_normalization(tmp_path):
    """``weightnorm`` is a registered parametrization: the landscape command accepts it."""
    out = tmp_path / "wn"
    assert main(["landscape", "--preset", "smoke", "--norm", "weightnorm", "--out", str(out)]) == 0
    doc = json.loads((out / "smoke.json").read_text())
    assert [s["norm"] for s in doc["summaries"]] == ["weightnorm"]
    assert all(math.isfinite(s["loss_variation"]) for s in doc["summaries"])


def test_landscape_command_over_seeds(tmp_path, capsys):
    """``--seeds 3``: one run directory per seed, and ``smoke-seeds.json`` with the intervals
    over seeds and the paired comparison against no normalization, computed from the
    per-seed summaries it also records."""
    out = tmp_path / "seeds"
    argv = ["landscape", "--preset", "smoke", "--steps", "10", "--seed", "4", "--seeds", "3"]
    assert main([*argv, "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["seed-4", "seed-5", "seed-6"]
    doc = json.loads((out / "smoke-seeds.json").read_text())
    assert doc["seeds"] == [4, 5, 6] and doc["level"] == 0.95
    first = json.loads((out / "smoke.json").read_text())["summaries"]
    assert doc["per_seed"]["4"] == first  # the page shows the first seed
    for s in doc["summaries"]:
        v = s["beta_smoothness"]
        want = [
            next(x for x in doc["per_seed"][str(k)] if x["norm"] == s["norm"]) for k in (4, 5, 6)
        ]
        assert v["values"] == [w["beta_smoothness"] for w in want]
        assert v["n"] == 3 and v["lo"] <= v["mean"] <= v["hi"]
    (cmp,) = doc["paired"]
    assert cmp["norm"] == "batchnorm" and cmp["baseline"] == "none" and cmp["seeds"] == [4, 5, 6]
    assert cmp["loss_variation"]["lo"] <= cmp["loss_variation"]["difference"]
    assert (
        main(["landscape", "--preset", "smoke", "--seeds", "0", "--out", str(tmp_path / "z")]) == 2
    )
    assert "--seeds must be at least 1" in capsys.readouterr().err


def test_landscape_spectrum_flag_probes_the_spectrum_in_both_modes(tmp_path, monkeypatch):
    """``--spectrum`` on a preset without spectrum probes (the smoke preset with its spectrum
    schedule taken away): at initialization and at the end, train mode and eval mode
    (running statistics), on the page and in the JSON."""
    from dataclasses import replace

    from bntheory.landscape.presets import PRESETS
    from bntheory.pipeline import with_spectrum

    smoke = PRESETS["smoke"]
    bare = replace(smoke, base=replace(smoke.base, spectrum_every=0, hessian_every=0))
    monkeypatch.setitem(PRESETS, "smoke", bare)
    cfg = bare.configs(norms=["none"])[0]
    assert cfg.spectrum_every == 0 and with_spectrum(cfg).spectrum_every == cfg.steps
    argv = ["landscape", "--preset", "smoke", "--norm", "batchnorm", "--steps", "3"]
    assert main([*argv, "--out", str(tmp_path / "plain")]) == 0
    assert not (tmp_path / "plain" / "smoke-spectrum.png").exists()
    assert main([*argv, "--spectrum", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "smoke.json").read_text())
    (run,) = doc["runs"]
    probed = [p for p in run["probes"] if "spectrum" in p]
    assert [p["step"] for p in probed] == [0, 3]  # the start, and the end always
    assert set(probed[0]["spectrum"]) == {"train", "eval"}
    assert probed[0]["spectrum"]["train"]["mode_words"] == "train (batch statistics)"
    md = (tmp_path / "smoke.md").read_text()
    assert "## Hessian spectrum" in md and (tmp_path / "smoke-spectrum.png").exists()
