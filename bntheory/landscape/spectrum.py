r"""The Hessian's spectrum of a model's loss, in the mode SGD sees unless asked otherwise.

:class:`Hessian` is the loss's Hessian as a float64 linear operator on a copy of the model:
in ``mode="train"`` (batch statistics, the default: the function SGD optimizes) or
``"eval"`` (running statistics), over one batch or the mean over batches (weighted by their
sizes: the expected mini-batch loss), for all parameters or one ``block`` of them.  Its
products are double backward through the loss (``torch.autograd.grad`` of
:math:`\langle\nabla L, v\rangle`), counted in ``products``.  The caller's model, its
buffers, its train/eval flags and torch's RNG are left exactly as they were; with noisy
BatchNorm every forward pass sees the RNG state of the call's start, so the Hessian is that of
one fixed function.

The estimators take any operator with ``n``, ``matvec`` and ``products``:

* :func:`top_eigenpairs` -- the top-``k`` eigenpairs by ``scipy.sparse.linalg.eigsh``;
  :func:`top_eigenvalue` -- the top one by Lanczos stopped on its residual bound;
* :func:`hutchinson` and :func:`hutchpp` -- the trace, with a standard error;
* :func:`slq` -- stochastic Lanczos quadrature: per run the Gauss quadrature (nodes and
  weights) of the spectral measure seen from a Rademacher vector, whose moments of degree
  below ``2 * steps`` are exact; :func:`density` smooths them into the eigenvalue density and
  the spread of the runs;
* :func:`bulk_edge`, :func:`outliers` and :func:`tail` -- the bulk of the density and the
  eigenvalues outside it (defined there): how many, and their share of :math:`\mathrm{tr}(H^2)`;
* :func:`spectrum` -- all of it at once, as a :class:`Spectrum` that carries its mode.

Why the estimators are written here rather than taken from curvlinops: curvlinops'
``hutchinson_trace``, ``hutchpp_trace`` and ``xtrace`` return a point estimate without its
standard error, and ``lanczos_approximate_spectrum`` returns a run-averaged density on a grid
without the quadrature's nodes and weights, so neither the standard error, nor the spread over
runs, nor the exact moments would be available; and curvlinops is a peer measured against
(``benchmarks/peers.py``, the optional extra ``bntheory[peers]``), not a dependency.
:func:`curvlinops_operator` hands a :class:`Hessian` to curvlinops' own estimators where
curvlinops is installed, which the benchmark and the tests use to compare them.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import Tensor, nn

from bntheory.errors import InvalidArgumentError

Loss = Callable[[Tensor, Tensor], Tensor]
MODES = ("train", "eval")
#: What each mode computes, as results record it.
MODE_WORDS = {"train": "train (batch statistics)", "eval": "eval (running statistics)"}
#: The bulk is the smallest interval [-e, e] holding this fraction of the eigenvalues.
BULK_MASS = 0.99
#: An eigenvalue is an outlier when it exceeds this multiple of the bulk edge.
OUTLIER_FACTOR = 2.0
#: Width of the Gaussian that smooths each quadrature node, relative to the spectrum's range.
SMOOTHING = 0.01


def _batches(data) -> list[tuple[Tensor, Tensor]]:
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Tensor):
        out = [data]
    else:
        try:
            out = [tuple(b) for b in data]
        except TypeError as exc:
            raise InvalidArgumentError(
                "data must be a batch (x, y) or an iterable of (x, y) batches (a DataLoader)"
            ) from exc
    if not out:
        raise InvalidArgumentError("data holds no batch")
    for b in out:
        if len(b) != 2 or not all(isinstance(t, Tensor) for t in b) or len(b[0]) == 0:
            raise InvalidArgumentError("every batch must be a non-empty pair of tensors (x, y)")
    return out


def blocks(model: nn.Module) -> list[str]:
    """The names of the modules that own parameters directly (in forward registration order):
    the blocks a :class:`Hessian` can be restricted to."""
    return [
        name
        for name, m in model.named_modules()
        if any(p.requires_grad for p in m.parameters(recurse=False))
    ]


def _select(model: nn.Module, block: str | Sequence[str] | None) -> list[tuple[str, Tensor]]:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if block is None:
        chosen = named
    else:
        prefixes = [block] if isinstance(block, str) else list(block)
        chosen = [
            (n, p) for n, p in named if any(n == b or n.startswith(b + ".") for b in prefixes)
        ]
    if not chosen:
        raise InvalidArgumentError(
            f"no trainable parameter in block {block!r}; the blocks are {blocks(model)}"
        )
    return chosen


class Hessian:
    """The loss's Hessian (in ``mode``, over ``data``, for ``block``) as a float64 operator.

    ``data`` is one batch ``(x, y)`` or an iterable of batches; with several, the Hessian is
    the mean of the batches' Hessians weighted by batch size, and each product recomputes the
    batches' gradients (memory of one batch); with one, the gradient's graph is kept and a
    product is one double backward.  ``block`` is a module name of :func:`blocks` (or
    several): the Hessian's diagonal block of those parameters.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: Loss,
        data,
        mode: str = "train",
        block: str | Sequence[str] | None = None,
    ):
        if mode not in MODES:
            raise InvalidArgumentError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.loss = loss
        rng = torch.get_rng_state()
        self.model = copy.deepcopy(model).to(torch.float64)
        self.model.train(mode == "train")
        chosen = _select(self.model, block)
        self.block = block
        self.names = [n for n, _ in chosen]
        self.params = [p for _, p in chosen]
        device = self.params[0].device
        self.batches = [
            (
                x.to(device, torch.float64),
                y.to(device, torch.float64) if y.is_floating_point() else y.to(device),
            )
            for x, y in _batches(data)
        ]
        sizes = np.array([len(x) for x, _ in self.batches], dtype=np.float64)
        self.weights = (sizes / sizes.sum()).tolist()
        self.n = sum(p.numel() for p in self.params)
        self.rng = rng
        self.products = 0
        self._flat = self._grad(*self.batches[0], True) if len(self.batches) == 1 else None

    def _grad(self, x: Tensor, y: Tensor, create_graph: bool) -> Tensor:
        """The flat gradient of the batch loss, every forward from the same RNG state."""
        outer = torch.get_rng_state()
        torch.set_rng_state(self.rng)
        try:
            value = self.loss(self.model(x), y)
            grads = torch.autograd.grad(value, self.params, create_graph=create_graph)
        finally:
            torch.set_rng_state(outer)
        return torch.cat([g.reshape(-1) for g in grads])

    def _hvp(self, flat: Tensor, v: Tensor, retain: bool) -> Tensor:
        hv = torch.autograd.grad(flat @ v, self.params, retain_graph=retain, allow_unused=True)
        return torch.cat(
            [
                (h if h is not None else torch.zeros_like(p)).reshape(-1)
                for h, p in zip(hv, self.params)
            ]
        )

    def gradient(self) -> np.ndarray:
        """The loss's gradient w.r.t. the block's parameters (flat, float64)."""
        total = sum(w * self._grad(x, y, False) for w, (x, y) in zip(self.weights, self.batches))
        return total.detach().cpu().numpy()

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """The product ``H v`` as a float64 numpy vector (one counted product)."""
        self.products += 1
        vt = torch.as_tensor(
            np.asarray(v, dtype=np.float64).reshape(-1), device=self.params[0].device
        )
        if self._flat is not None:
            out = self._hvp(self._flat, vt, True)
        else:
            out = sum(
                w * self._hvp(self._grad(x, y, True), vt, False)
                for w, (x, y) in zip(self.weights, self.batches)
            )
        return out.detach().cpu().numpy()

    def matmat(self, vs: np.ndarray) -> np.ndarray:
        """``H V`` for the columns of ``V`` (``n x k``; ``k`` counted products), column by
        column: torch's vectorized double backward (``is_grads_batched=True``) took three
        times as long for 32 columns of the digits CNN on a CPU (vmap's fallback)."""
        vs = np.asarray(vs, dtype=np.float64).reshape(self.n, -1)
        return np.stack([self.matvec(v) for v in vs.T], axis=1)

    def diagonal(self) -> np.ndarray:
        """The Hessian's diagonal exactly (``n`` products)."""
        diag = np.empty(self.n)
        e = np.zeros(self.n)
        for i in range(self.n):
            e[i] = 1.0
            diag[i] = self.matvec(e)[i]
            e[i] = 0.0
        return diag

    def linear_operator(self) -> LinearOperator:
        """The symmetric ``n x n`` scipy ``LinearOperator`` ``v -> H v``."""
        return LinearOperator(
            (self.n, self.n), matvec=self.matvec, rmatvec=self.matvec, dtype=np.float64
        )

    def dense(self) -> np.ndarray:
        """The whole Hessian (``n`` products), symmetrized."""
        h = self.matmat(np.eye(self.n))
        return (h + h.T) / 2


def _rademacher(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(0, 2, size=shape).astype(np.float64) * 2 - 1


def top_eigenpairs(
    op, k: int = 1, which: str = "LA", tol: float = 1e-6, seed: int = 0, ncv: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` eigenvalues (largest first; ``which`` as ``eigsh``'s: ``"LA"`` the
    algebraically largest, ``"LM"`` the largest in magnitude) and their eigenvectors (the
    columns), by ``eigsh`` to relative tolerance ``tol`` from ``default_rng(seed)``'s normal
    start vector."""
    if not 1 <= k < op.n:
        raise InvalidArgumentError(f"k must be in [1, {op.n - 1}] for {op.n} parameters, got {k}")
    v0 = np.random.default_rng(seed).normal(size=op.n)
    ncv = min(op.n, ncv or max(2 * k + 1, 20))
    lo = LinearOperator((op.n, op.n), matvec=op.matvec, rmatvec=op.matvec, dtype=np.float64)
    values, vectors = eigsh(lo, k=k, which=which, tol=tol, v0=v0, ncv=ncv)
    order = np.argsort(-np.abs(values)) if which == "LM" else np.argsort(-values)
    return values[order], vectors[:, order]


def top_eigenvalue(
    op, tol: float = 1e-3, max_steps: int = 200, seed: int = 0
) -> tuple[float, np.ndarray, int]:
    r"""The largest eigenvalue, its eigenvector and the products it took, by Lanczos with
    full reorthogonalization from ``default_rng(seed)``'s normal start vector, stopped as
    soon as the error estimate of the top Ritz value is at most ``tol`` :math:`|\theta_1|`:
    the smaller of its residual :math:`r = \|Hu - \theta_1 u\| = \beta_j|s_{j1}|` (a bound,
    Bauer-Fike) and :math:`r^2/(\theta_1-\theta_2)` (Parlett's estimate with the Ritz gap
    for the eigenvalue gap: an estimate, not a bound).  Unlike ``eigsh``, which checks only
    after filling its ``ncv`` vectors, it stops after the product that meets the rule."""
    start = op.products
    v = np.random.default_rng(seed).normal(size=op.n)
    for step in lanczos_iteration(op, v, max_steps):
        t, basis, b = step
        theta, s = np.linalg.eigh(t)
        r = b * abs(s[-1, -1])
        gap = theta[-1] - theta[-2] if len(theta) > 1 else 0.0
        estimate = min(r, r * r / gap) if gap > 0 else r
        if estimate <= tol * abs(theta[-1]):
            break
    return float(theta[-1]), basis @ s[:, -1], op.products - start


@dataclass(frozen=True)
class TraceEstimate:
    """A trace estimate, its standard error and the products it took."""

    method: str
    estimate: float
    stderr: float
    products: int
    samples: int  # the random probes the standard error is taken over

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The ``level`` confidence interval ``estimate -+ t * stderr``, ``t`` the Student
        quantile with ``samples - 1`` degrees of freedom."""
        from scipy import stats

        t = float(stats.t.ppf((1 + level) / 2, self.samples - 1))
        return self.estimate - t * self.stderr, self.estimate + t * self.stderr

    def to_json(self) -> dict[str, Any]:
        """The estimate as a JSON-ready dict, with its 95 % interval."""
        return {
            "method": self.method,
            "estimate": self.estimate,
            "stderr": self.stderr,
            "products": self.products,
            "samples": self.samples,
            "interval95": list(self.interval()),
        }


def hutchinson(op, products: int, seed: int = 0) -> TraceEstimate:
    r"""Girard-Hutchinson: the mean of :math:`v^\top H v` over ``products`` Rademacher
    vectors; its standard error is the samples' standard deviation over
    :math:`\sqrt{\text{products}}`."""
    if products < 2:
        raise InvalidArgumentError(f"Hutchinson needs at least 2 products, got {products}")
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(products):
        v = _rademacher(rng, op.n)
        samples.append(float(v @ op.matvec(v)))
    s = np.asarray(samples)
    return TraceEstimate(
        "hutchinson", float(s.mean()), float(s.std(ddof=1) / math.sqrt(len(s))), products, len(s)
    )


def hutchpp(op, products: int, seed: int = 0) -> TraceEstimate:
    r"""Hutch++ (Meyer, Musco, Musco & Woodruff 2021): a third of the products sketch
    :math:`Q = \mathrm{orth}(HS)`, a third take :math:`\mathrm{tr}(Q^\top HQ)` exactly, the
    rest estimate the trace of the deflated :math:`(I-QQ^\top)H(I-QQ^\top)` by Hutchinson.
    The standard error is that of the Hutchinson part (the sketch's trace is exact given
    :math:`Q`)."""
    if products < 5:
        raise InvalidArgumentError(f"Hutch++ needs at least 5 products, got {products}")
    rng = np.random.default_rng(seed)
    s = min(products // 3, op.n)
    sketch = np.stack([op.matvec(v) for v in _rademacher(rng, (s, op.n))], axis=1)
    q, _ = np.linalg.qr(sketch)
    hq = np.stack([op.matvec(q[:, i]) for i in range(q.shape[1])], axis=1)
    exact = float(np.trace(q.T @ hq))
    samples = []
    for _ in range(products - 2 * s):
        g = _rademacher(rng, op.n)
        p = g - q @ (q.T @ g)
        samples.append(float(p @ op.matvec(p)))
    x = np.asarray(samples)
    return TraceEstimate(
        "hutch++",
        exact + float(x.mean()),
        float(x.std(ddof=1) / math.sqrt(len(x))),
        products,
        len(x),
    )


@dataclass(frozen=True)
class Quadrature:
    """One SLQ run: Ritz values ``nodes`` and weights (summing to 1) of the spectral measure
    :math:`\\mu_v = \\sum_i (u_i^\\top v)^2 \\delta_{\\lambda_i}` of a unit vector ``v``."""

    nodes: np.ndarray
    weights: np.ndarray

    def moment(self, j: int) -> float:
        r""":math:`\sum_i w_i\theta_i^j`, equal to :math:`v^\top H^j v` for ``j < 2 * steps``."""
        return float(self.weights @ self.nodes**j)


def lanczos_iteration(
    op, v: np.ndarray, steps: int
) -> Iterator[tuple[np.ndarray, np.ndarray, float]]:
    """Lanczos with full reorthogonalization from ``v``: after each of at most ``steps``
    products, ``(T, Q, beta)``: the ``j x j`` tridiagonal :math:`T = Q^\top HQ`, the ``n x j``
    orthonormal basis :math:`Q` of the Krylov space and the next off-diagonal :math:`\beta`
    (the norm of the residual :math:`HQ - QT`).  It ends early, after yielding, when the
    space is invariant (:math:`\beta` at rounding level)."""
    q = [v / np.linalg.norm(v)]
    alpha: list[float] = []
    beta: list[float] = []
    for j in range(min(steps, op.n)):
        w = op.matvec(q[j])
        alpha.append(float(q[j] @ w))
        basis = np.stack(q, axis=1)
        for _ in range(2):  # full reorthogonalization, twice is enough (Kahan-Parlett)
            w = w - basis @ (basis.T @ w)
        b = float(np.linalg.norm(w))
        yield np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1), basis, b
        if b <= 1e-12 * max(1.0, abs(alpha[-1])):
            return
        beta.append(b)
        q.append(w / b)


def lanczos(op, v: np.ndarray, steps: int) -> Quadrature:
    """The Gauss quadrature of :func:`lanczos_iteration`'s last tridiagonal matrix from ``v``
    (``steps`` products, fewer on an invariant subspace)."""
    *_, (t, _, _) = lanczos_iteration(op, v, steps)
    theta, u = np.linalg.eigh(t)
    return Quadrature(theta, u[0] ** 2)


def slq(op, steps: int = 40, runs: int = 3, seed: int = 0) -> list[Quadrature]:
    """Stochastic Lanczos quadrature: ``runs`` Lanczos quadratures from Rademacher vectors
    of ``default_rng(seed)``, ``steps`` products each."""
    if steps < 1 or runs < 1:
        raise InvalidArgumentError(f"SLQ needs steps >= 1 and runs >= 1, got {steps}, {runs}")
    rng = np.random.default_rng(seed)
    return [lanczos(op, _rademacher(rng, op.n), steps) for _ in range(runs)]


def density(
    runs: Sequence[Quadrature], points: int = 201, width: float = SMOOTHING
) -> dict[str, list[float]]:
    """The eigenvalue density of the SLQ runs: each node a Gaussian of standard deviation
    ``width`` times the nodes' range; ``density`` the runs' mean on ``grid`` and ``spread``
    their standard deviation (0 for one run)."""
    lo = min(float(r.nodes.min()) for r in runs)
    hi = max(float(r.nodes.max()) for r in runs)
    sigma = width * max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0))
    grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, points)
    per = np.stack(
        [
            (
                r.weights[None, :]
                * np.exp(-((grid[:, None] - r.nodes[None, :]) ** 2) / (2 * sigma**2))
            ).sum(1)
            / (sigma * math.sqrt(2 * math.pi))
            for r in runs
        ]
    )
    return {
        "grid": grid.tolist(),
        "density": per.mean(0).tolist(),
        "spread": (per.std(0, ddof=1) if len(runs) > 1 else np.zeros(points)).tolist(),
        "sigma": sigma,
    }


def bulk_edge(runs: Sequence[Quadrature], mass: float = BULK_MASS) -> float:
    r"""The bulk's edge :math:`e`: the smallest :math:`e` with
    :math:`\bar\mu([-e, e]) \ge` ``mass``, for :math:`\bar\mu` the runs' mean quadrature
    measure (an estimate of the eigenvalue distribution :math:`\frac1n\sum_i
    \delta_{\lambda_i}`).  With ``mass`` 0.99 the bulk holds 99 % of the eigenvalues, so a
    handful of isolated eigenvalues (weight :math:`1/n` each) cannot move it."""
    nodes = np.concatenate([np.abs(r.nodes) for r in runs])
    weights = np.concatenate([r.weights for r in runs]) / len(runs)
    order = np.argsort(nodes)
    cum = np.cumsum(weights[order])
    return float(nodes[order][min(int(np.searchsorted(cum, mass * cum[-1])), len(nodes) - 1)])


def outliers(top: Sequence[float], edge: float, factor: float = OUTLIER_FACTOR) -> list[float]:
    """The top eigenvalues outside the bulk: above ``factor`` times its edge ``e`` (at
    :data:`BULK_MASS` 0.99 of the eigenvalues lie within ``e``; an outlier is separated from
    them by at least as much again)."""
    return [float(x) for x in top if x > factor * edge]


def tail(runs: Sequence[Quadrature], threshold: float, n: int) -> tuple[float, float]:
    r"""The eigenvalues above ``threshold`` by the SLQ measure: their number
    :math:`n\,\bar\mu((t, \infty))` and their share of the second moment,
    :math:`\int_{\lambda > t}\lambda^2 d\bar\mu / \int\lambda^2 d\bar\mu` (an estimate of
    :math:`\sum_{\lambda_i > t}\lambda_i^2/\mathrm{tr}(H^2)`); neither is capped by the
    number of eigenpairs computed."""
    nodes = np.concatenate([r.nodes for r in runs])
    weights = np.concatenate([r.weights for r in runs]) / len(runs)
    beyond = nodes > threshold
    second = float(weights @ nodes**2)
    return (
        float(n * weights[beyond].sum()),
        float(weights[beyond] @ nodes[beyond] ** 2 / second) if second > 0 else 0.0,
    )


def frobenius2(
    op, values: np.ndarray, vectors: np.ndarray | None, probes: int, seed: int = 0
) -> float:
    r""":math:`\|H\|_F^2 = \mathrm{tr}(H^2)`, deflated: the top eigenvalues' squares exactly
    plus Hutchinson's estimate of the rest, the mean of :math:`\|HPv\|^2` over ``probes``
    Rademacher vectors with :math:`P = I - VV^\top` (:math:`E\|HPv\|^2 = \mathrm{tr}(PH^2P)
    = \sum_{i>k}\lambda_i^2` for exact eigenvectors ``V``), so it is never below the top
    eigenvalues' part.  Without eigenvectors: plain Hutchinson on :math:`H^2`."""
    rng = np.random.default_rng(seed + 1)
    rest = []
    for _ in range(probes):
        v = _rademacher(rng, op.n)
        if vectors is not None:
            v = v - vectors @ (vectors.T @ v)
        hv = op.matvec(v)
        rest.append(float(hv @ hv))
    return float(np.sum(np.square(values))) + float(np.mean(rest))


@dataclass
class Spectrum:
    """What :func:`spectrum` found, and in which mode.  ``eigenvectors`` (``n x k``) are not
    part of :meth:`to_json`."""

    mode: str
    parameters: int
    block: Any
    batches: int
    eigenvalues: list[float]
    eigenvectors: np.ndarray | None
    traces: list[TraceEstimate]
    quadratures: list[Quadrature]
    density: dict[str, list[float]] | None
    bulk_edge: float | None
    outliers: list[float]
    outlier_count: float | None
    outlier_mass: float | None
    frobenius2: float | None
    gradient_share: float | None
    products: int
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: everything but the eigenvectors and the raw quadratures
        (their moments 0-4 stand in)."""
        return {
            "mode": self.mode,
            "mode_words": MODE_WORDS[self.mode],
            "parameters": self.parameters,
            "block": self.block,
            "batches": self.batches,
            "eigenvalues": self.eigenvalues,
            "traces": [t.to_json() for t in self.traces],
            "moments": [float(np.mean([q.moment(j) for q in self.quadratures])) for j in range(5)]
            if self.quadratures
            else [],
            "density": self.density,
            "bulk_edge": self.bulk_edge,
            "outliers": self.outliers,
            "outlier_count": self.outlier_count,
            "outlier_mass": self.outlier_mass,
            "frobenius2": self.frobenius2,
            "gradient_share": self.gradient_share,
            "products": self.products,
            "seconds": self.seconds,
            "settings": self.settings,
        }


def spectrum(
    model: nn.Module,
    loss: Loss,
    data,
    mode: str = "train",
    block: str | Sequence[str] | None = None,
    k: int = 10,
    tol: float = 1e-6,
    trace: Iterable[str] = ("hutchpp",),
    trace_products: int = 60,
    slq_steps: int = 40,
    slq_runs: int = 3,
    points: int = 201,
    seed: int = 0,
) -> Spectrum:
    r"""The Hessian's spectrum of ``loss(model(x), y)`` over ``data`` in ``mode``.

    The top-``k`` eigenpairs (``k = 0``: none; :func:`top_eigenpairs`, ``"LA"``, to ``tol``),
    the trace by each method of ``trace`` (``"hutchinson"``, ``"hutchpp"``; with
    ``trace_products`` products each), the density by SLQ (``slq_runs`` runs of
    ``slq_steps`` products; ``slq_runs = 0``: none), the bulk edge :math:`e`
    (:func:`bulk_edge`), the top eigenvalues above :math:`2e` (``outliers``,
    :func:`outliers`), the number of eigenvalues above :math:`2e` and their share of
    :math:`\mathrm{tr}(H^2)` by the SLQ measure (``outlier_count``, ``outlier_mass``:
    :func:`tail`, not capped at ``k``), :math:`\|H\|_F^2` deflated by the top eigenpairs
    (``frobenius2``, :func:`frobenius2`), and the gradient's share
    :math:`\|V_k^\top g\|^2/\|g\|^2` in the top-``k`` eigenspace.  The caller's model and RNG
    are untouched.
    """
    start = time.perf_counter()
    rng = torch.get_rng_state()
    try:
        op = Hessian(model, loss, data, mode, block)
        values, vectors = top_eigenpairs(op, k, tol=tol, seed=seed) if k else (np.zeros(0), None)
        share = None
        if k:
            g = op.gradient()
            gg = float(g @ g)
            share = float(np.sum((vectors.T @ g) ** 2) / gg) if gg > 0 else 0.0
        estimators = {"hutchinson": hutchinson, "hutchpp": hutchpp}
        traces = []
        for name in trace:
            if name not in estimators:
                raise InvalidArgumentError(
                    f"trace method must be one of {sorted(estimators)}, got {name!r}"
                )
            traces.append(estimators[name](op, trace_products, seed))
        quads = slq(op, slq_steps, slq_runs, seed) if slq_runs else []
        fro2 = frobenius2(op, values, vectors, max(slq_runs, 2), seed) if quads else None
    finally:
        torch.set_rng_state(rng)
    edge = bulk_edge(quads) if quads else None
    out = outliers(values, edge) if edge is not None else []
    count, mass = tail(quads, OUTLIER_FACTOR * edge, op.n) if quads else (None, None)
    return Spectrum(
        mode=mode,
        parameters=op.n,
        block=block if block is None or isinstance(block, str) else list(block),
        batches=len(op.batches),
        eigenvalues=[float(x) for x in values],
        eigenvectors=vectors,
        traces=traces,
        quadratures=quads,
        density=density(quads, points) if quads else None,
        bulk_edge=edge,
        outliers=out,
        outlier_count=count,
        outlier_mass=mass,
        frobenius2=fro2,
        gradient_share=share,
        products=op.products,
        seconds=time.perf_counter() - start,
        settings={
            "k": k,
            "tol": tol,
            "trace_products": trace_products,
            "slq_steps": slq_steps,
            "slq_runs": slq_runs,
            "seed": seed,
            "bulk_mass": BULK_MASS,
            "outlier_factor": OUTLIER_FACTOR,
        },
    )


def has_running_statistics(model: nn.Module) -> bool:
    """Whether train and eval mode can differ: some module keeps running statistics."""
    return any(getattr(m, "running_mean", None) is not None for m in model.modules())


def curvlinops_operator(op: Hessian):
    """``op`` as a curvlinops ``PyTorchLinearOperator`` (for curvlinops' own trace and
    density estimators); needs curvlinops (``pip install bntheory[peers]``)."""
    try:
        # curvlinops 3.0 does not export its base class; its own operators derive from it here
        from curvlinops._torch_base import PyTorchLinearOperator
    except ImportError as exc:
        raise InvalidArgumentError(
            "curvlinops is not installed: pip install 'bntheory[peers]'"
        ) from exc

    class BNTheoryHessian(PyTorchLinearOperator):
        """bntheory's Hessian-vector product behind curvlinops' interface."""

        SELF_ADJOINT = True

        def __init__(self):
            super().__init__([(op.n,)], [(op.n,)])
            self.hessian = op

        def _matmat(self, X: list[Tensor]) -> list[Tensor]:
            (m,) = X
            cols = [
                torch.as_tensor(op.matvec(m[:, j].detach().cpu().double().numpy()))
                for j in range(m.shape[1])
            ]
            return [torch.stack(cols, dim=1).to(m.device, m.dtype)]

        @property
        def device(self):
            return torch.device("cpu")

        @property
        def dtype(self):
            return torch.float64

    return BNTheoryHessian()
