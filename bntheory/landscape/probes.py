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
  ``scipy.sparse.linalg.eigsh`` on a ``LinearOperator`` of Hessian-vector products
  (counted), in float64 on a copy of the model; :func:`power_iteration` is the method
  PyHessian uses, for the benchmark.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import Tensor, nn

from bntheory.landscape.models import weight_layers
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


@contextmanager
def preserved(model: nn.Module) -> Iterator[Callable[[], None]]:
    """Snapshot parameters, buffers and RNG; yields a function that restores them (also run
    on exit)."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None

    def restore() -> None:
        with torch.no_grad():
            model.load_state_dict(state)
        torch.set_rng_state(rng)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)

    try:
        yield restore
    finally:
        restore()


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


class HessianOperator:
    """The batch loss's Hessian as a float64 ``LinearOperator``.

    It works on a float64 copy of the model, in the model's mode (train: batch statistics),
    and counts its Hessian-vector products in ``products``.
    """

    def __init__(self, model: nn.Module, loss: Loss, x: Tensor, y: Tensor):
        self.model = copy.deepcopy(model).to(torch.float64)
        self.model.train(model.training)
        x = x.to(torch.float64)
        y = y.to(torch.float64) if y.is_floating_point() else y
        self.params = _params(self.model)
        rng = torch.get_rng_state()  # a copy of the model: only the RNG (noisy BatchNorm) is shared
        try:
            value = loss(self.model(x), y)
            grads = torch.autograd.grad(value, self.params, create_graph=True)
        finally:
            torch.set_rng_state(rng)
        self.flat = torch.cat([g.reshape(-1) for g in grads])
        self.n = self.flat.numel()
        self.products = 0

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """The Hessian-vector product ``H v`` (double backward), as a float64 numpy vector."""
        self.products += 1
        vt = torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1), device=self.flat.device)
        hv = torch.autograd.grad(self.flat @ vt, self.params, retain_graph=True, allow_unused=True)
        return (
            torch.cat(
                [
                    (h if h is not None else torch.zeros_like(p)).reshape(-1)
                    for h, p in zip(hv, self.params)
                ]
            )
            .cpu()
            .numpy()
        )

    def linear_operator(self) -> LinearOperator:
        """The symmetric ``n x n`` scipy ``LinearOperator`` ``v -> H v``."""
        return LinearOperator(
            (self.n, self.n), matvec=self.matvec, rmatvec=self.matvec, dtype=np.float64
        )


def hessian_top(
    model: nn.Module, loss: Loss, x: Tensor, y: Tensor, k: int = 1, tol: float = 1e-3, seed: int = 0
) -> dict[str, Any]:
    """The ``k`` largest-magnitude eigenvalues of the batch loss's Hessian, largest first.

    By ``eigsh`` (Lanczos, ``ncv`` at least :data:`NCV`) on a :class:`HessianOperator`, with
    a start vector from ``default_rng(seed)``, to relative tolerance ``tol``; also reports the
    number of Hessian-vector products, the model's mode and its parameter count.
    """
    op = HessianOperator(model, loss, x, y)
    v0 = np.random.default_rng(seed).normal(size=op.n)
    k = min(k, op.n - 1)
    ncv = min(op.n, max(NCV, 2 * k + 1))
    values = eigsh(
        op.linear_operator(), k=k, which="LM", tol=tol, v0=v0, ncv=ncv, return_eigenvectors=False
    )
    order = np.argsort(-np.abs(values))
    return {
        "eigenvalues": [float(values[i]) for i in order],
        "hvp_products": op.products,
        "tol": tol,
        "mode": "train (batch statistics)" if model.training else "eval (running statistics)",
        "parameters": op.n,
    }


def power_iteration(
    op: HessianOperator, tol: float = 1e-3, max_iter: int = 1000, seed: int = 0
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
    op: HessianOperator, max_products: int, seed: int = 0
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
    basis = [v / np.linalg.norm(v)]
    images: list[np.ndarray] = []
    trace: list[tuple[float, float]] = []
    for _ in range(min(max_products, op.n)):
        images.append(op.matvec(basis[-1]))
        q = np.stack(basis, axis=1)
        t = q.T @ np.stack(images, axis=1)
        ritz = np.linalg.eigvalsh((t + t.T) / 2)
        trace.append((float(ritz[0]), float(ritz[-1])))
        w = images[-1].copy()
        for _ in range(2):  # full reorthogonalization, twice is enough (Kahan-Parlett)
            w -= q @ (q.T @ w)
        nrm = np.linalg.norm(w)
        # the space is invariant: the trace is exact
        if nrm <= 1e-14 * np.linalg.norm(images[-1]):
            trace.extend([trace[-1]] * (min(max_products, op.n) - len(trace)))
            break
        basis.append(w / nrm)
    return trace


def first_within(estimates: Sequence[float], ref: float, accuracy: float) -> int | None:
    """The number of products after which ``estimates`` (one per product) stay within
    ``accuracy`` (relative) of ``ref``; ``None`` if the last one is not within it."""
    count = None
    for i in range(len(estimates) - 1, -1, -1):
        if abs(estimates[i] - ref) > accuracy * abs(ref):
            break
        count = i + 1
    return count
