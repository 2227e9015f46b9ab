"""Measure a layer's closed forms against the autograd oracle on a fixed, seeded set of inputs.

This is what ``bntheory report`` prints in ``reports/layers.md`` and what
:func:`bntheory.testing.check_layer` runs: for every registered layer, its arguments from
:meth:`~bntheory.norms.base.Normalization.example_kwargs` and its input filled group by group
with every batch family; for each operation the largest relative error seen and the largest
fraction of the error model's bound used.  The forward is compared with the layer's
``torch.nn.functional`` counterpart where torch accepts the arguments.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import torch

from bntheory.cases.layer_calls import layer_case
from bntheory.cases.settings import describe, settings
from bntheory.cases.strategies import LayerCall
from bntheory.norms import OPERATIONS, Normalization
from bntheory.verify.compare import compare
from bntheory.verify.errormodel import ROUNDING_STEPS
from bntheory.verify.oracle import closed_form, layer_map, oracle

#: torch's own kernels are not scale-safe: ``F.group_norm`` on an (8, 3) batch of scale 1e100
#: returns values near 1e88 where the exact output is below 1 (one-pass variance).  The forward
#: is compared with torch on the other families; these two are covered by autograd and SymPy.
TORCH_UNSAFE_FAMILIES = ("tiny_scale", "huge_scale")


@dataclass
class OpSummary:
    """Largest errors of one operation over all cases."""

    op: str
    route: str  # "closed form", "autograd" or, for the forward, "torch"
    cases: int = 0
    max_rel_error: float = 0.0
    max_ratio: float = 0.0  # largest error / error-model bound
    worst_case: str = ""
    failures: int = 0
    #: cases where autograd (the reference) is not finite while the closed form is: tiny
    #: groups whose autograd intermediates underflow (t^3 ~ 1e-309); not compared
    reference_not_finite: int = 0
    first_failure: str = ""


@dataclass
class LayerSummary:
    """The closed-form checks of one layer, operation by operation."""

    name: str
    title: str
    provides: dict[str, str]
    ops: list[OpSummary] = field(default_factory=list)

    def to_json(self) -> dict:
        """The summary as JSON."""
        return asdict(self)

    @property
    def failures(self) -> int:
        """The number of failed checks over all operations."""
        return sum(op.failures for op in self.ops)


def measure_layer(
    layer: Normalization,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: Callable[[Iterable], Iterable] = lambda it: it,
    quick: bool = False,
) -> LayerSummary:
    """Compare every operation of ``layer`` with autograd (and its forward with torch's) on
    the fixed seeded settings; settings the layer has no arguments for are left out."""
    provides = layer.provides()
    ops = ("forward",) + OPERATIONS
    summary = {
        op: OpSummary(op=op, route="torch" if op == "forward" else provides[op]) for op in ops
    }
    for family, shape, eps, training, kind, case_seed in progress(settings(seed, quick)):
        case = layer_case(layer, family, shape, case_seed, eps, training, kind, device)
        if case is None:
            continue
        where = describe(family, shape, eps, training, case_seed)
        for op in ops:
            a = closed_form(layer, op, case.x, case.g, case.v, (), case.kwargs)
            if op == "forward":
                b = torch_forward(layer, case) if family not in TORCH_UNSAFE_FAMILIES else None
                if b is None:
                    continue
            else:
                b = oracle(op, layer_map(layer, (), case.kwargs), case.x, case.g, case.v)
            s = summary[op]
            if bool(torch.isfinite(a).all()) and not bool(torch.isfinite(b).all()):
                s.reference_not_finite += 1
                continue
            cmp = compare(layer, op, case.x, a, b, (), case.kwargs, g=case.g, v=case.v)
            s.cases += 1
            if not cmp.ok:
                s.failures += 1
                s.first_failure = s.first_failure or (
                    f"{where}: error {cmp.max_ratio:.3g} x the error model's bound (relative "
                    f"{cmp.max_rel_error:.3g})"
                )
            s.max_rel_error = max(s.max_rel_error, cmp.max_rel_error)
            if cmp.max_ratio >= s.max_ratio:
                s.max_ratio = cmp.max_ratio
                s.worst_case = where
    return LayerSummary(
        name=layer.name,
        title=layer.title,
        provides=provides,
        ops=[s for s in summary.values() if s.cases or s.op != "forward"],
    )


def torch_forward(layer: Normalization, case: LayerCall) -> torch.Tensor | None:
    """The layer's ``torch.nn.functional`` counterpart on the same arguments (running
    statistics cloned, so torch does not update the case's), or None where the layer has
    none or torch refuses the arguments (BatchNorm with ``eps = 0`` in training mode)."""
    fn = layer.torch_counterpart
    if fn is None:
        return None
    kwargs = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in case.kwargs.items()}
    try:
        params = list(inspect.signature(fn).parameters.values())[1:]
    except (TypeError, ValueError):
        params = []
    for p in params:  # required parameters the layer leaves at None (F.batch_norm's running stats)
        if p.default is inspect.Parameter.empty and p.name not in kwargs:
            kwargs[p.name] = None
    try:
        with torch.no_grad():
            return fn(case.x, **kwargs)
    except (ValueError, RuntimeError):
        return None


ERROR_MODEL_SUMMARY = (
    f"error <= {ROUNDING_STEPS} u kappa (1 + log2 m) S per group "
    "(u: unit roundoff; kappa: the layer's condition estimate; S: summed norms of the formula's "
    "terms)"
)
