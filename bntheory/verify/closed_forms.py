"""Measure a layer's closed forms against the autograd oracle on a fixed, seeded set of inputs.

This is what ``bntheory report`` prints in ``reports/layers.md``: for each operation the
largest relative error seen and the largest fraction of the error model's bound used.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import torch

from bntheory.norms import OPERATIONS, Normalization
from bntheory.testing.batches import FAMILIES
from bntheory.testing.strategies import WEIGHT_KINDS, build_case
from bntheory.verify.compare import compare
from bntheory.verify.errormodel import ROUNDING_STEPS
from bntheory.verify.oracle import closed_form, layer_map, oracle

SHAPES: tuple[tuple[int, ...], ...] = ((8, 3), (6, 2, 4), (4, 2, 3, 3), (64, 2))
EPS_VALUES: tuple[float, ...] = (0.0, 1e-5, 0.5)
SEEDS_PER_SETTING = 2


@dataclass
class OpSummary:
    """Largest errors of one operation over all cases."""

    op: str
    route: str  # "closed form" or "autograd"
    cases: int = 0
    max_rel_error: float = 0.0
    max_ratio: float = 0.0  # largest error / error-model bound
    worst_case: str = ""
    failures: int = 0


@dataclass
class LayerSummary:
    name: str
    title: str
    provides: dict[str, str]
    ops: list[OpSummary] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def settings(seed: int) -> list[tuple[str, tuple[int, ...], float, bool, str, int]]:
    """The fixed list of (family, shape, eps, training, weight kind, seed) the report uses."""
    out = []
    for i, (family, shape, eps, training) in enumerate(
        itertools.product(FAMILIES, SHAPES, EPS_VALUES, (True, False))
    ):
        for k in range(SEEDS_PER_SETTING):
            kind = WEIGHT_KINDS[(i + k) % len(WEIGHT_KINDS)]
            out.append((family, shape, eps, training, kind, seed * 1_000_003 + i * SEEDS_PER_SETTING + k))
    return out


def measure_layer(layer: Normalization, seed: int = 0, device: str | torch.device = "cpu",
                  progress: Callable[[Iterable], Iterable] = lambda it: it) -> LayerSummary:
    """Compare every operation of ``layer`` with autograd on the fixed seeded settings."""
    provides = layer.provides()
    ops = ("forward",) + OPERATIONS
    summary = {op: OpSummary(op=op, route="torch" if op == "forward" else provides[op]) for op in ops}
    for family, shape, eps, training, kind, case_seed in progress(settings(seed)):
        case = build_case(family, shape, case_seed, eps, training, kind, device)
        for op in ops:
            a = closed_form(layer, op, case.x, case.g, case.v, (), case.kwargs)
            b = oracle(op, layer_map(layer, (), case.kwargs), case.x, case.g, case.v)
            if op == "forward" and layer.torch_counterpart is not None and (eps > 0 or not training):
                b = _torch_forward(layer, case)
            cmp = compare(layer, op, case.x, a, b, (), case.kwargs, g=case.g, v=case.v)
            s = summary[op]
            s.cases += 1
            s.failures += not cmp.ok
            s.max_rel_error = max(s.max_rel_error, cmp.max_rel_error)
            if cmp.max_ratio >= s.max_ratio:
                s.max_ratio = cmp.max_ratio
                s.worst_case = f"{family}, shape {shape}, eps={eps}, {'train' if training else 'eval'}, seed {case_seed}"
    return LayerSummary(name=layer.name, title=layer.title, provides=provides, ops=list(summary.values()))


def _torch_forward(layer: Normalization, case) -> torch.Tensor:
    kw = dict(case.kwargs)
    rm, rv = kw.pop("running_mean", None), kw.pop("running_var", None)
    if kw.get("training"):
        rm, rv = None, None  # do not let torch update them
    return layer.torch_counterpart(case.x, rm, rv, **kw)


ERROR_MODEL_SUMMARY = (
    f"error <= {ROUNDING_STEPS} u kappa (1 + log2 m) S per group "
    "(u: unit roundoff; kappa: the layer's condition estimate; S: summed norms of the formula's terms)"
)
