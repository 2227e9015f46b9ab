"""Seeded SGD training with periodic probes, atomic checkpoints and exact resume.

A run lives in one directory: ``checkpoint.pt`` (model, optimizer, step, batch-order
generator, torch RNG, the metrics so far; written atomically every ``checkpoint_every``
steps) and, when the run ends, ``metrics.json`` (schema, exact config, every series) and
``metrics.csv``.  A run killed at any point and started again with ``resume=True`` continues
from its last checkpoint and produces the same numbers as an uninterrupted run.  A run
directory that already holds a checkpoint or metrics is never overwritten without
``resume``.  A run whose loss becomes non-finite, or whose activations overflow a
normalization layer's statistics (:class:`~bntheory.errors.NonFiniteInputError`), stops there
and says so (``diverged_at``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from bntheory.atomic import atomic_write
from bntheory.errors import BNTheoryError, InvalidArgumentError, NonFiniteInputError
from bntheory.landscape import probes
from bntheory.landscape.data import Dataset
from bntheory.landscape.models import build, loss_fn

SCHEMA = 1


class RunExistsError(BNTheoryError):
    """The run directory already holds a run (and ``resume`` was not asked for)."""


@dataclass
class RunConfig:
    """Everything that determines a training run: model, normalization, SGD and probe schedule.

    ``model`` is ``mlp``, ``vgg`` or ``dln``; ``norm`` a :class:`bntheory.nn.Norm` name.  The
    config is recorded in ``metrics.json`` (:meth:`to_json`), and a resumed run must match it.
    """

    model: str  # mlp | vgg | dln
    norm: str
    lr: float
    steps: int
    batch_size: int | None = 128  # None: full batch (gradient descent)
    seed: int = 0
    probe_every: int = 50  # 0: no probes at all
    etas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.4)
    hessian_every: int = 0  # 0: never
    hessian_k: int = 1
    spectrum_every: int = 0  # 0: never; else the Hessian's spectrum (probes.spectrum_probe),
    # also at the final state
    checkpoint_every: int = 100
    dtype: str = "float32"
    device: str = "cpu"
    hidden: tuple[int, ...] = (64, 64)
    cfg: tuple[Any, ...] = (16, "M", 32, "M")
    depth: int = 25
    activation: str = "relu"  # the MLP's nonlinearity: relu | sigmoid | tanh
    data: str = ""  # a description of the data, recorded with the run

    def __post_init__(self):
        if self.lr <= 0 or not math.isfinite(self.lr):
            raise InvalidArgumentError(f"lr must be a positive number, got {self.lr}")
        if self.steps < 1 or self.probe_every < 0 or self.checkpoint_every < 1:
            raise InvalidArgumentError(
                "steps and checkpoint_every must be >= 1, probe_every >= 0 (0: no probes)"
            )
        if self.dtype not in ("float32", "float64"):
            raise InvalidArgumentError(f"dtype must be float32 or float64, got {self.dtype!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype named by ``dtype`` (``torch.float32`` or ``torch.float64``)."""
        return getattr(torch, self.dtype)

    def to_json(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (tuples as lists)."""
        d = asdict(self)
        d["etas"], d["hidden"], d["cfg"] = list(self.etas), list(self.hidden), list(self.cfg)
        return d


@dataclass
class Metrics:
    """The series a run records: per-step training loss, the probes, and where it diverged."""

    train_loss: list[float] = field(default_factory=list)  # per step, on the step's batch
    probes: list[dict[str, Any]] = field(default_factory=list)  # every probe_every steps
    diverged_at: int | None = None


class _Batches:
    """Epoch-wise seeded permutations; its state is two integers and a generator state."""

    def __init__(self, n: int, batch_size: int | None, seed: int):
        self.n, self.bs = n, batch_size
        self.gen = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(n, generator=self.gen)
        self.pos = 0

    def next(self) -> torch.Tensor | None:
        if self.bs is None:
            return None
        if self.pos + self.bs > self.n:
            self.order = torch.randperm(self.n, generator=self.gen)
            self.pos = 0
        idx = self.order[self.pos : self.pos + self.bs]
        self.pos += self.bs
        return idx

    def state(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "order": self.order.clone(), "pos": self.pos}

    def load(self, s: dict[str, Any]) -> None:
        self.gen.set_state(s["gen"])
        self.order, self.pos = s["order"], s["pos"]


def _evaluate(
    model: torch.nn.Module, loss, x: torch.Tensor, y: torch.Tensor, classify: bool
) -> dict[str, float]:
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(x)
        res = {"loss": float(loss(out, y))}
        if classify:
            res["accuracy"] = float((out.argmax(1) == y).double().mean())
    model.train(was)
    return res


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write(path, buf.getvalue())


def train(
    cfg: RunConfig,
    data: Dataset,
    out_dir: Path | str,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train and probe; returns (and writes) the run's metrics document."""
    out = Path(out_dir)
    ckpt, metrics_path = out / "checkpoint.pt", out / "metrics.json"
    if not resume and (ckpt.exists() or metrics_path.exists()):
        raise RunExistsError(
            f"{out} already holds a run; pass resume=True (--resume) to continue it, "
            "or choose another directory"
        )
    if resume and metrics_path.exists() and not ckpt.exists():
        return json.loads(metrics_path.read_text())  # finished already
    out.mkdir(parents=True, exist_ok=True)
    device, dtype = torch.device(cfg.device), cfg.torch_dtype
    data = data.to(device, dtype)
    classify = data.num_classes is not None
    torch.manual_seed(cfg.seed)
    model = build(
        cfg.model,
        cfg.norm,
        data.input_shape,
        data.num_classes,
        cfg.hidden,
        cfg.cfg,
        cfg.depth,
        cfg.activation,
    )
    model = model.to(device=device, dtype=dtype).train()
    loss = loss_fn(cfg.model)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    batches = _Batches(data.x_train.shape[0], cfg.batch_size, cfg.seed + 1)
    metrics, step = Metrics(), 0
    if resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state["config"] != cfg.to_json():
            raise RunExistsError(
                f"{ckpt} was written with another configuration; resume needs the same one"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        batches.load(state["batches"])
        torch.set_rng_state(state["rng"])
        metrics, step = Metrics(**state["metrics"]), state["step"]

    def probe(at: int, x: torch.Tensor, y: torch.Tensor, final: bool = False) -> None:
        rec: dict[str, Any] = {
            "step": at,
            "test": _evaluate(model, loss, data.x_test, data.y_test, classify),
        }
        rec.update(probes.gradient_probes(model, loss, x, y, cfg.etas))
        rec["ics"] = probes.internal_covariate_shift(model, loss, x, y, cfg.lr)
        rec["activations"] = probes.activation_stats(model, x)
        sat = probes.saturation(model, x)
        if sat is not None:
            rec["saturation"] = sat
        if cfg.hessian_every and at % cfg.hessian_every == 0:
            rec["hessian"] = probes.hessian_top(model, loss, x, y, k=cfg.hessian_k, seed=cfg.seed)
        if cfg.spectrum_every and (at % cfg.spectrum_every == 0 or final):
            rec["spectrum"] = probes.spectrum_probe(model, loss, x, y, seed=cfg.seed)
        metrics.probes.append(rec)

    while step < cfg.steps and metrics.diverged_at is None:
        idx = batches.next()
        x, y = (
            (data.x_train, data.y_train) if idx is None else (data.x_train[idx], data.y_train[idx])
        )
        try:
            if cfg.probe_every and step % cfg.probe_every == 0:
                probe(step, x, y)
            opt.zero_grad(set_to_none=True)
            value = loss(model(x), y)
        except NonFiniteInputError:  # a layer's statistics overflowed: the run has diverged
            metrics.diverged_at = step
            break
        if not torch.isfinite(value):
            metrics.diverged_at = step
            break
        value.backward()
        opt.step()
        metrics.train_loss.append(float(value.detach()))
        step += 1
        if progress is not None:
            progress(step, cfg.steps)
        if step % cfg.checkpoint_every == 0 and step < cfg.steps:
            _save_checkpoint(
                ckpt,
                {
                    "config": cfg.to_json(),
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "batches": batches.state(),
                    "rng": torch.get_rng_state(),
                    "metrics": asdict(metrics),
                    "step": step,
                },
            )
        if on_step is not None:
            on_step(step)
    if metrics.diverged_at is None and cfg.probe_every:
        idx = batches.next()
        x, y = (
            (data.x_train, data.y_train) if idx is None else (data.x_train[idx], data.y_train[idx])
        )
        try:
            probe(step, x, y, final=True)  # the final state (always with a spectrum)
        except NonFiniteInputError:  # the last update overflowed a layer's statistics
            metrics.diverged_at = step
    doc = {"schema": SCHEMA, "config": cfg.to_json(), "steps_done": step, **asdict(metrics)}
    atomic_write(metrics_path, json.dumps(doc, indent=1) + "\n")
    atomic_write(out / "metrics.csv", _csv(doc))
    if ckpt.exists():
        os.unlink(ckpt)  # the run is complete; metrics.json now says everything
    return doc


def _csv(doc: dict[str, Any]) -> str:
    """One row per probe: the scalar measurements (per-layer ICS as its mean over layers)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "schema",
            "step",
            "test_loss",
            "test_accuracy",
            "loss",
            "grad_norm",
            "loss_min",
            "loss_max",
            "pred_min",
            "pred_max",
            "beta_smoothness",
            "ics_l2_mean",
            "ics_cos_mean",
            "hessian_top",
        ]
    )
    for p in doc["probes"]:
        ics = p["ics"]
        w.writerow(
            [
                doc["schema"],
                p["step"],
                p["test"]["loss"],
                p["test"].get("accuracy", ""),
                p["loss"],
                p["grad_norm"],
                p["loss_min"],
                p["loss_max"],
                p["pred_min"],
                p["pred_max"],
                p["beta_smoothness"],
                sum(r["l2"] for r in ics) / len(ics),
                sum(r["cos"] for r in ics) / len(ics),
                p["hessian"]["eigenvalues"][0] if "hessian" in p else "",
            ]
        )
    return buf.getvalue()
