"""``check_layer(name)``: the whole battery of checks on a registered layer.

1. **protocol** -- the layer is registered, names itself, and says what it provides;
2. **symbolic** -- its SymPy forward, Jacobian and second derivative (explicit ``m`` = 2, 3, 4,
   evaluated at 50 digits) against its torch forward and closed forms
   (:mod:`bntheory.verify.symbolic_check`);
3. **closed forms** -- ``jvp``, ``vjp``, ``hvp`` against ``torch.autograd`` of its forward, and
   the forward against its ``torch.nn.functional`` counterpart, on every batch family, several
   shapes, ``eps`` in {0, 1e-5, 0.5}, training and eval mode where it has one
   (:func:`bntheory.verify.closed_forms.measure_layer`);
4. **symmetry** -- :math:`\\langle u, \\mathrm{hvp}(x,g,v)\\rangle
   = \\langle v, \\mathrm{hvp}(x,g,u)\\rangle`, as for a Hessian.

Every comparison uses the suite's one error model.  The first disagreement raises
:class:`LayerCheckError` naming the check, the operation and the case; otherwise a
:class:`BatteryResult` lists what was checked and what autograd filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from bntheory.cases.layer_calls import layer_case
from bntheory.errors import BNTheoryError
from bntheory.norms import Normalization, get_layer
from bntheory.norms.base import group_norm
from bntheory.verify.closed_forms import LayerSummary, measure_layer
from bntheory.verify.errormodel import ratio as ratio_of
from bntheory.verify.errormodel import relative_tolerance
from bntheory.verify.symbolic_check import SIZES, check_symbolic


class LayerCheckError(BNTheoryError, AssertionError):
    """A registered layer failed a check of the battery (the message says which and where)."""


@dataclass
class BatteryResult:
    """The outcome of a layer's battery of checks."""

    name: str
    provides: dict[str, str]
    symbolic_comparisons: int = 0
    closed_forms: LayerSummary | None = None
    symmetry_cases: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The outcome in words."""
        lines = [f"{self.name}: every check passed"]
        lines.append("  provides: " + ", ".join(f"{k} {v}" for k, v in self.provides.items()))
        lines.append(
            f"  symbolic: {self.symbolic_comparisons} comparisons at 50 digits (m = 2, 3, 4)"
        )
        if self.closed_forms is not None:
            for op in self.closed_forms.ops:
                lines.append(
                    f"  {op.op:8s} ({op.route}): {op.cases} cases, bound used {op.max_ratio:.3g}"
                )
        lines.append(f"  hvp symmetry: {self.symmetry_cases} cases")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _fail(name: str, check: str, detail: str) -> LayerCheckError:
    return LayerCheckError(f"layer {name!r} fails the {check} check: {detail}")


def check_layer(
    layer: str | Normalization,
    *,
    device: str | torch.device = "cpu",
    seed: int = 0,
    quick: bool = True,
    sizes: tuple[int, ...] = SIZES,
) -> BatteryResult:
    """Run the battery on a registered layer (a name, or a registered instance).

    ``quick`` (the default) uses two shapes and one seed per setting; ``quick=False`` the
    report's full set.  Raises :class:`LayerCheckError` on the first disagreement.
    """
    name = layer if isinstance(layer, str) else layer.name
    obj = get_layer(name)  # UnknownLayerError, listing the registered names, if it is not
    provides = obj.provides()
    result = BatteryResult(name=obj.name, provides=provides)
    if not obj.has_symbolic():
        result.notes.append("no symbolic forward: the symbolic checks are skipped")
    for op in ("jvp", "vjp", "hvp"):
        if provides[op] == "autograd":
            result.notes.append(f"{op} is computed by autograd (no closed form)")
    for r in check_symbolic(obj, seed=seed, device=device, sizes=sizes):
        result.symbolic_comparisons += 1
        if not r.ok:
            gamma, beta, eps = r.setting
            raise _fail(
                obj.name,
                "symbolic",
                f"{r.op} differs from SymPy's exact value by {r.max_ratio:.3g} x the "
                f"error model's bound at m={r.m}, gamma={gamma}, beta={beta}, eps={eps}, "
                f"{r.detail}",
            )
    if obj.has_symbolic() and not result.symbolic_comparisons:
        result.notes.append(
            "symbolic_input gives no input for the symbolic settings: symbolic checks skipped"
        )
    summary = measure_layer(obj, seed=seed, device=device, quick=quick)
    result.closed_forms = summary
    for op in summary.ops:
        if op.failures:
            ref = "its torch.nn.functional counterpart" if op.op == "forward" else "torch.autograd"
            raise _fail(
                obj.name,
                "closed-form",
                f"{op.op} ({op.route}) disagrees with {ref} in {op.failures} of "
                f"{op.cases} cases; first: {op.first_failure}",
            )
    result.symmetry_cases = _check_symmetry(obj, seed, device)
    return result


def _check_symmetry(layer: Normalization, seed: int, device: str | torch.device) -> int:
    r"""A Hessian is symmetric:
    :math:`\langle u, \mathrm{hvp}(x, g, v)\rangle = \langle v, \mathrm{hvp}(x, g, u)\rangle`
    group by group, within the error model (the scale: the term scales times the other
    direction's norm)."""
    done = 0
    for i, (family, shape) in enumerate(
        [("gaussian", (8, 3)), ("heavy_tailed", (6, 2, 4)), ("one_outlier", (4, 2, 3, 3))]
    ):
        case = layer_case(layer, family, shape, seed * 7919 + i, 1e-5, True, "mixed", device)
        if case is None:
            continue
        x, g, v, kw = case.x, case.g, case.v, case.kwargs
        u = torch.randn(
            x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(seed + i)
        ).to(x.device)
        rows = lambda t, kw=kw: layer.groups(t, **kw)  # noqa: E731
        a = (rows(u) * rows(layer.hvp(x, g, v, **kw))).sum(1)
        b = (rows(v) * rows(layer.hvp(x, g, u, **kw))).sum(1)
        scale = torch.maximum(
            layer.term_scale("hvp", x, g, v, **kw) * group_norm(rows(u)),
            layer.term_scale("hvp", x, g, u, **kw) * group_norm(rows(v)),
        )
        allowed = relative_tolerance(x.dtype, layer.condition(x, **kw), rows(x).shape[1]) * scale
        ratio = float(ratio_of((a - b).abs(), allowed).max())
        if not ratio <= 1:
            raise _fail(
                layer.name,
                "hvp-symmetry",
                f"<u, hvp(x, g, v)> != <v, hvp(x, g, u)> by {ratio:.3g} x the error "
                f"model's bound on {family}, shape {shape}",
            )
        done += 1
    return done
