r"""Probes of the loss landscape at the current training state (the paper's Figures 4-7, 9, 10).

Every probe runs inside :func:`preserved`, which restores the model's parameters, its
buffers (BatchNorm running statistics) and torch's RNG state afterwards, so training goes on
exactly as if no probe had run.  Gradients are taken with ``torch.autograd.grad``, never
accumulated into ``.grad``.  The model stays in training mode (BatchNorm uses batch
statistics): the probes measure the function SGD actually optimises.  Before each loss
evaluation the RNG is reset to its state at the probe's start, so with noisy BatchNorm every
evaluation sees the same noise and the landscape is a function of the parameters alone.

* :func:`gradient_probes` -- with :math:`x' = x - \eta\nabla\mathcal L(x)` for each
  :math:`\eta` of a grid: the loss variation :math:`\mathcal L(x')`, the gradient
  predictiveness :math:`\|\nabla\mathcal L(x) - \nabla\mathcal L(x')\|` and the effective
  :math:`\beta`-smoothness
  :math:`\max_\eta \|\nabla\mathcal L(x) - \nabla\mathcal L(x')\|/\|\eta\nabla\mathcal L(x)\|`.
* :func:`internal_covariate_shift` -- Definition 2.1: per layer :math:`i`,
  :math:`G_i = \nabla_{W_i}\mathcal L` and :math:`G_i'` the same gradient after every
  parameter *before* :math:`W_i` took its SGD step; :math:`\|G_i - G_i'\|` and
  :math:`\cos(G_i, G_i')`.
* :func:`activation_stats` -- mean, standard deviation and a histogram of each Norm layer's
  output.
* :func:`saturation` -- the fraction of sigmoid and tanh units saturated on the batch (their
  derivative below :data:`SATURATED` of its maximum).
* :func:`hessian_top` -- the largest-magnitude Hessian eigenvalues of the batch loss, by
  ``scipy.sparse.linalg.eigsh`` on :class:`bntheory.landscape.spectrum.Hessian` (counted
  Hessian-vector products, float64, on a copy of the model); :func:`power_iteration` is the
  method PyHessian uses, for the benchmark.
* :func:`spectrum_probe` -- the Hessian's spectrum (:func:`bntheory.landscape.spectrum.spectrum`:
  top eigenvalues, SLQ density, outliers beyond the bulk, the gradient's share in the top
  eigenspace) in training mode and, for a model with running statistics, in eval mode too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bntheory.landscape.models import weight_layers
from bntheory.landscape.spectrum import (
    MODE_WORDS,
    Hessian,
    has_running_statistics,
    lanczos_iteration,
    spectrum,
    top_eigenpairs,
)
from bntheory.landscape.state import preserved
from bntheory.nn import Norm

Loss = Callable[[Tensor, Tensor], Tensor]
#: Lanczos vectors of eigsh (ARPACK's ``ncv``) for the top eigenvalue: its default (20) spends
#: 20 products before the first estimate; 6 reaches 1e-3 in fewer (``benchmarks/landscape.py``).
NCV = 6
HIST_RANGE = (-4.0, 4.0)
HIST_BINS = 40
#: A sigmoid or tanh unit is saturated where its derivative is below this fraction of the
#: derivative's maximum (sigmoid: |x| > 3.64, tanh: |x| > 1.82).
SATURATED = 0.1


def _params(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def loss_and_grad(
    model: nn.Module, loss: Loss, x: Tensor, y: Tensor, params: Sequence[Tensor]
) -> tuple[float, list[Tensor]]:
    """The batch loss ``loss(model(x), y)`` and its gradient w.r.t. ``params`` (detached).

    The gradient comes from ``torch.autograd.grad``; nothing is accumulated into ``.grad``.
    """
    value = loss(model(x), y)
    grads = torch.autograd.grad(value, list(params))
    return float(value.detach()), [g.detach() for g in grads]


def _norm(ts: Sequence[Tensor]) -> float:
    return math.sqrt(sum(float((t.double() ** 2).sum()) for t in ts))


def gradient_probes(
    model: nn.Module, loss: Loss, x: Tensor, y: Tensor, etas: Sequence[float]
) -> dict[str, Any]:
    r"""Loss variation, gradient predictiveness and effective :math:`\beta`-smoothness.

    For each :math:`\eta` in ``etas``, from the current parameters :math:`w` with gradient
    :math:`\nabla\mathcal L(w)`, the step :math:`w' = w - \eta\nabla\mathcal L(w)`: the
    loss :math:`\mathcal L(w')` (``loss_along``), the predictiveness
    :math:`\|\nabla\mathcal L(w) - \nabla\mathcal L(w')\|` and its ratio to
    :math:`\|\eta\nabla\mathcal L(w)\|` (``beta_smoothness`` is the largest ratio).  The
    model's parameters, buffers and RNG are restored afterwards (:func:`preserved`).
    """
    params = _params(model)
    with preserved(model) as restore:
        l0, g = loss_and_grad(model, loss, x, y, params)
        gnorm = _norm(g)
        losses, pred, beta = [], [], []
        for eta in etas:
            restore()
            with torch.no_grad():
                for p, gi in zip(params, g):
                    p.sub_(eta * gi)
            li, gi_new = loss_and_grad(model, loss, x, y, params)
            diff = _norm([a - b for a, b in zip(g, gi_new)])
            losses.append(li)
            pred.append(diff)
            beta.append(diff / (eta * gnorm) if gnorm > 0 else 0.0)
    finite = [v for v in losses if math.isfinite(v)]
    return {
        "loss": l0,
        "grad_norm": gnorm,
        "etas": list(etas),
        "loss_along": losses,
        "loss_min": min(finite) if finite else math.nan,
        "loss_max": max(finite) if finite else math.nan,
        "predictiveness": pred,
        "pred_min": min(pred),
        "pred_max": max(pred),
        "beta_smoothness": max(beta),
    }


def internal_covariate_shift(
    model: nn.Module, loss: Loss, x: Tensor, y: Tensor, lr: float
) -> list[dict[str, Any]]:
    r"""Definition 2.1's internal covariate shift of every weight layer, in forward order.

    Per layer :math:`i`: :math:`G_i = \nabla_{W_i}\mathcal L` and :math:`G_i'` the same
    gradient after every parameter before :math:`W_i` took its SGD step of rate ``lr``; a row
    holds ``l2`` :math:`= \|G_i - G_i'\|`, ``cos`` :math:`= \cos(G_i, G_i')` (1 if either is
    zero) and ``grad_norm`` :math:`= \|G_i\|`.  The model is restored afterwards.
    """
    params = _params(model)
    layers = weight_layers(model)
    index = {id(p): i for i, p in enumerate(params)}
    rows = []
    with preserved(model) as restore:
        _, g = loss_and_grad(model, loss, x, y, params)
        for name, w in layers:
            k = index[id(w)]
            restore()
            with torch.no_grad():
                for p, gp in zip(params[:k], g[:k]):  # every parameter before W_i takes its step
                    p.sub_(lr * gp)
            (g_new,) = torch.autograd.grad(loss(model(x), y), [w])
            a, b = g[k].double().reshape(-1), g_new.detach().double().reshape(-1)
            denom = float(a.norm() * b.norm())
            rows.append(
                {
                    "layer": name,
                    "l2": float((a - b).norm()),
                    "cos": float(a @ b) / denom if denom > 0 else 1.0,
                    "grad_norm": float(a.norm()),
                }
            )
    return rows


def activation_stats(model: nn.Module, x: Tensor) -> list[dict[str, Any]]:
    """Mean, standard deviation and histogram of each :class:`Norm` layer's output on ``x``.

    One row per Norm call, in call order: ``mean``, ``std``, a ``HIST_BINS``-bin ``hist`` over
    ``HIST_RANGE`` and the fraction ``outside`` it.  The model is restored afterwards.
    """
    records: list[dict[str, Any]] = []
    hooks = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module, _inp, out):
        a = out.detach().double().reshape(-1)
        hist = torch.histc(a, bins=HIST_BINS, min=HIST_RANGE[0], max=HIST_RANGE[1])
        records.append(
            {
                "layer": names[module],
                "mean": float(a.mean()),
                "std": float(a.std()),
                "hist": hist.tolist(),
                "outside": float(((a < HIST_RANGE[0]) | (a > HIST_RANGE[1])).double().mean()),
            }
        )

    for m in model.modules():
        if isinstance(m, Norm):
            hooks.append(m.register_forward_hook(hook))
    try:
        with preserved(model), torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return records


def saturation(model: nn.Module, x: Tensor) -> dict[str, Any] | None:
    """The fraction of (unit, sample) pairs of every ``nn.Sigmoid``/``nn.Tanh`` whose
    derivative is below :data:`SATURATED` of its maximum on ``x``, overall and per layer
    (``None`` for a model without such units).  The model is restored afterwards."""
    rows: list[dict[str, Any]] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module, _inp, out):
        a = out.detach().double()
        slope = 4 * a * (1 - a) if isinstance(module, nn.Sigmoid) else 1 - a**2
        rows.append(
            {
                "layer": names[module],
                "fraction": float((slope < SATURATED).double().mean()),
                "units": a[0].numel(),
            }
        )

    hooks = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Sigmoid | nn.Tanh)
    ]
    if not hooks:
        return None
    try:
        with preserved(model), torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    total = sum(r["units"] for r in rows)
    return {"fraction": sum(r["fraction"] * r["units"] for r in rows) / total, "layers": rows}


def batch_hessian(model: nn.Module, loss: Loss, x: Tensor, y: Tensor) -> Hessian:
    """The batch loss's Hessian in the model's mode (train: batch statistics), as a counted
    float64 operator on a copy of the model."""
    return Hessian(model, loss, (x, y), "train" if model.training else "eval")


def hessian_top(
    model: nn.Module, loss: Loss, x: Tensor, y: Tensor, k: int = 1, tol: float = 1e-3, seed: int = 0
) -> dict[str, Any]:
    """The ``k`` largest-magnitude eigenvalues of the batch loss's Hessian, largest first.

    By ``eigsh`` (Lanczos, ``ncv`` at least :data:`NCV`;
    :func:`bntheory.landscape.spectrum.top_eigenpairs`) on the Hessian in the model's mode,
    with a start vector from ``default_rng(seed)``, to relative tolerance ``tol``; also
    reports the number of Hessian-vector products, the mode and the parameter count.
    """
    op = batch_hessian(model, loss, x, y)
    k = min(k, op.n - 1)
    values, _ = top_eigenpairs(op, k, which="LM", tol=tol, seed=seed, ncv=max(NCV, 2 * k + 1))
    return {
        "eigenvalues": [float(v) for v in values],
        "hvp_products": op.products,
        "tol": tol,
        "mode": MODE_WORDS[op.mode],
        "parameters": op.n,
    }


def power_iteration(
    op: Hessian, tol: float = 1e-3, max_iter: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """PyHessian's method: ``v <- Hv/|Hv|`` until the Rayleigh quotient changes by less than
    ``tol`` relative."""
    v = np.random.default_rng(seed).normal(size=op.n)
    v /= np.linalg.norm(v)
    start, lam = op.products, None
    for _ in range(max_iter):
        hv = op.matvec(v)
        new = float(v @ hv)
        nrm = np.linalg.norm(hv)
        if nrm == 0:
            return {"eigenvalue": 0.0, "hvp_products": op.products - start}
        v = hv / nrm
        if lam is not None and abs(new - lam) <= tol * abs(new):
            lam = new
            break
        lam = new
    return {"eigenvalue": lam, "hvp_products": op.products - start}


def krylov_optimum_trace(
    op: Hessian, max_products: int, seed: int = 0
) -> list[tuple[float, float]]:
    r"""After each of ``max_products`` products, the extreme Ritz values of the Krylov space.

    With :math:`v_0` the start vector of :func:`power_iteration` and of the benchmark's
    ``eigsh`` (``default_rng(seed).normal``), entry :math:`k-1` is the pair
    :math:`(\theta_{\min}, \theta_{\max})` of Ritz values of
    :math:`\mathcal K_k = \mathrm{span}(v_0, Hv_0, \dots, H^{k-1}v_0)`, from unrestarted Lanczos
    with full reorthogonalization, :math:`k` products in all.

    Why it is a bound.  Every method that only multiplies vectors it built from :math:`v_0` by
    :math:`H` holds, after :math:`k` products, vectors of :math:`\mathcal K_k` and their images:
    power iteration's estimate is the Rayleigh quotient of :math:`H^{k-1}v_0`, ARPACK's
    implicitly restarted Lanczos (``eigsh``) keeps combinations of the Lanczos vectors it
    made.  Each such estimate is a Rayleigh quotient :math:`\rho(u)` of some
    :math:`u\in\mathcal K_k`, and by Courant-Fischer
    :math:`\theta_{\min}(\mathcal K_k) \le \rho(u) \le \theta_{\max}(\mathcal K_k)`, so for a
    top eigenvalue :math:`\lambda_1 > 0` no such estimate is closer to it than
    :math:`\theta_{\max}`, and for :math:`\lambda_1 < 0` none is closer than
    :math:`\theta_{\min}`.  The products a method needs to come within a relative error of
    :math:`\lambda_1` are therefore at least the first :math:`k` at which that end of this
    trace does (:func:`first_within`).
    """
    v = np.random.default_rng(seed).normal(size=op.n)
    steps = min(max_products, op.n)
    trace: list[tuple[float, float]] = []
    for t, _, _ in lanczos_iteration(op, v, steps):
        ritz = np.linalg.eigvalsh(t)
        trace.append((float(ritz[0]), float(ritz[-1])))
    # an invariant space ends the iteration early: the trace is exact from there on
    return trace + [trace[-1]] * (steps - len(trace))


def first_within(estimates: Sequence[float], ref: float, accuracy: float) -> int | None:
    """The number of products after which ``estimates`` (one per product) stay within
    ``accuracy`` (relative) of ``ref``; ``None`` if the last one is not within it."""
    count = None
    for i in range(len(estimates) - 1, -1, -1):
        if abs(estimates[i] - ref) > accuracy * abs(ref):
            break
        count = i + 1
    return count


#: The spectrum probe's settings: top-k eigenpairs (k = the classes of the digits and CIFAR-10
#: presets: Papyan's C outliers), eigsh's tolerance, SLQ steps and runs.
SPECTRUM = {"k": 10, "tol": 1e-6, "slq_steps": 40, "slq_runs": 2}


def spectrum_probe(
    model: nn.Module, loss: Loss, x: Tensor, y: Tensor, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """The batch loss's spectrum (:data:`SPECTRUM` settings, no trace) by mode: ``"train"``
    always, ``"eval"`` too when the model keeps running statistics (without them the two are
    the same function).  Each entry is :meth:`Spectrum.to_json` with the density on 101
    points, without the wall time.  The model and RNG are untouched."""
    modes = ["train", "eval"] if has_running_statistics(model) else ["train"]
    k = min(SPECTRUM["k"], sum(p.numel() for p in model.parameters() if p.requires_grad) - 1)
    out = {}
    for mode in modes:
        doc = spectrum(
            model,
            loss,
            (x, y),
            mode,
            k=k,
            tol=SPECTRUM["tol"],
            trace=(),
            slq_steps=SPECTRUM["slq_steps"],
            slq_runs=SPECTRUM["slq_runs"],
            points=101,
            seed=seed,
        ).to_json()
        doc.pop("seconds")  # a run's record holds numbers that a resumed run reproduces
        out[mode] = doc
    return out
