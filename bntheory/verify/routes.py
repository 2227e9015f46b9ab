r"""PyTorch's own derivatives of its normalization functions, against the closed forms.

Every autodiff route PyTorch offers computes, for :math:`L(x, W, B) = \langle g, N(x; W, B)\rangle`,
some of: the gradient (all three blocks), the output's tangent :math:`\dot z` for a tangent
:math:`(v, V_W, V_B)`, and the Hessian-vector product (all three blocks).  The closed forms of
:mod:`bntheory.norms.affine` give each exactly (to rounding), so each route is checked
against them under the one error model (:mod:`bntheory.verify.errormodel`).

* :data:`FUNCTIONS` -- the functions under test: ``torch.nn.functional``'s ``batch_norm``
  (training and eval), ``instance_norm``, ``group_norm``, ``layer_norm``, ``rms_norm``, and the
  ``torch.nn`` modules called through ``torch.func.functional_call``;
* :data:`ROUTES` -- ``torch.autograd.grad`` (once and twice), ``torch.autograd.functional``'s
  ``hessian`` and ``hvp``, ``torch.func``'s ``grad``, ``vjp``, ``jvp``, ``jacrev``,
  ``jacfwd``, ``hessian``, ``jacrev(jacrev)``, ``jvp(grad)``, ``jvp(jacrev)``,
  ``vjp(grad)``, ``vmap`` of the tangent-taking ones over a batch of tangents, and
  ``torch.autograd.forward_ad`` dual numbers (through the forward, and over the backward);
* :func:`build` -- a case from its JSON numbers; :func:`check` -- a route at a case, the
  largest error in units of the error model and where it is;
* :func:`repro_script` -- a standalone script (plain torch) that shows a disagreement: the
  route against autograd of the function's textbook forward written in elementary ops.

A route is a plain function of ``(f, primals, g, tangents)`` that uses only ``torch``: its
source is what the repro script runs.
"""

from __future__ import annotations

import inspect
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from bntheory.errors import BNTheoryError
from bntheory.norms import affine
from bntheory.verify.errormodel import ratio, relative_tolerance

#: What a route computes: the gradient, the output's tangent, the Hessian-vector product.
KINDS: tuple[str, ...] = ("grad", "jvp", "hvp")


# =========================================================== the functions under test
def textbook_batch_norm(x, w, b, eps):
    """BatchNorm in elementary ops: each channel over the batch and spatial axes."""
    dims = (0,) + tuple(range(2, x.dim()))
    shape = (1, -1) + (1,) * (x.dim() - 2)
    c = x - x.mean(dims, keepdim=True)
    return c / torch.sqrt((c * c).mean(dims, keepdim=True) + eps) * w.reshape(shape) + b.reshape(
        shape
    )


def textbook_batch_norm_eval(x, w, b, eps, running_mean, running_var):
    """BatchNorm in eval mode in elementary ops: the running statistics, per channel."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    t = torch.sqrt(running_var.reshape(shape) + eps)
    return (x - running_mean.reshape(shape)) / t * w.reshape(shape) + b.reshape(shape)


def textbook_group_norm(x, w, b, eps, num_groups):
    """GroupNorm in elementary ops (InstanceNorm: one group per channel)."""
    v = x.reshape(x.shape[0], num_groups, -1)
    c = v - v.mean(2, keepdim=True)
    n = (c / torch.sqrt((c * c).mean(2, keepdim=True) + eps)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return n * w.reshape(shape) + b.reshape(shape)


def textbook_layer_norm(x, w, b, eps):
    """LayerNorm in elementary ops: over the trailing ``w.dim()`` axes."""
    dims = tuple(range(x.dim() - w.dim(), x.dim()))
    c = x - x.mean(dims, keepdim=True)
    return c / torch.sqrt((c * c).mean(dims, keepdim=True) + eps) * w + b


def textbook_rms_norm(x, w, eps):
    """RMSNorm in elementary ops: over the trailing ``w.dim()`` axes, no centering."""
    dims = tuple(range(x.dim() - w.dim(), x.dim()))
    return x / torch.sqrt((x * x).mean(dims, keepdim=True) + eps) * w


@dataclass(frozen=True)
class Function:
    """A function under test.

    ``layer``: the registered layer whose plan gives the closed forms; ``bias``: whether it
    takes one; ``training``: batch statistics (False: eval mode, running statistics);
    ``module``: a ``torch.nn`` module called through ``torch.func.functional_call``;
    ``call``: the torch call as source text, an expression giving ``f(x, w[, b])`` over the
    names of a case's ``extra`` (``eps``, ``num_groups``, ``normalized_shape``,
    ``running_mean``, ``running_var``, ``channels``, ``like``); ``textbook``: the
    elementary-ops forward the repro scripts differentiate, and ``textbook_call`` its call."""

    name: str
    layer: str
    bias: bool
    training: bool
    module: bool
    call: str
    textbook: Callable[..., Tensor]
    textbook_call: str

    @property
    def params(self) -> tuple[str, ...]:
        """The differentiated arguments, in order."""
        return ("x", "weight", "bias") if self.bias else ("x", "weight")


def _fn(name, layer, call, textbook, textbook_call, *, bias=True, training=True, module=False):
    return Function(name, layer, bias, training, module, call, textbook, textbook_call)


_BN = "training=True, momentum=0.1, eps=eps"
#: The functions under test by name.  ``call`` reads the case's ``extra`` names (``eps``,
#: ``num_groups``, ``normalized_shape``, ``running_mean``, ``running_var``, ``channels``).
FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        _fn(
            "batch_norm",
            "batchnorm",
            f"lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, {_BN})",
            textbook_batch_norm,
            "lambda x, w, b: textbook_batch_norm(x, w, b, eps)",
        ),
        _fn(
            "batch_norm.eval",
            "batchnorm",
            "lambda x, w, b: torch.nn.functional.batch_norm(x, running_mean, running_var, w, b, "
            "training=False, eps=eps)",
            textbook_batch_norm_eval,
            "lambda x, w, b: textbook_batch_norm_eval(x, w, b, eps, running_mean, running_var)",
            training=False,
        ),
        _fn(
            "instance_norm",
            "instancenorm",
            "lambda x, w, b: torch.nn.functional.instance_norm(x, weight=w, bias=b, eps=eps)",
            textbook_group_norm,
            "lambda x, w, b: textbook_group_norm(x, w, b, eps, x.shape[1])",
        ),
        _fn(
            "group_norm",
            "groupnorm",
            "lambda x, w, b: torch.nn.functional.group_norm(x, num_groups, w, b, eps)",
            textbook_group_norm,
            "lambda x, w, b: textbook_group_norm(x, w, b, eps, num_groups)",
        ),
        _fn(
            "layer_norm",
            "layernorm",
            "lambda x, w, b: torch.nn.functional.layer_norm(x, normalized_shape, w, b, eps)",
            textbook_layer_norm,
            "lambda x, w, b: textbook_layer_norm(x, w, b, eps)",
        ),
        _fn(
            "rms_norm",
            "rmsnorm",
            "lambda x, w: torch.nn.functional.rms_norm(x, normalized_shape, w, eps)",
            textbook_rms_norm,
            "lambda x, w: textbook_rms_norm(x, w, eps)",
            bias=False,
        ),
        _fn(
            "nn.BatchNorm1d",
            "batchnorm",
            "module_call(torch.nn.BatchNorm1d(channels, eps, track_running_stats=False, **like))",
            textbook_batch_norm,
            "lambda x, w, b: textbook_batch_norm(x, w, b, eps)",
            module=True,
        ),
        _fn(
            "nn.BatchNorm1d.eval",
            "batchnorm",
            "module_call(eval_batch_norm(channels, eps, running_mean, running_var))",
            textbook_batch_norm_eval,
            "lambda x, w, b: textbook_batch_norm_eval(x, w, b, eps, running_mean, running_var)",
            training=False,
            module=True,
        ),
        _fn(
            "nn.InstanceNorm1d",
            "instancenorm",
            "module_call(torch.nn.InstanceNorm1d(channels, eps, affine=True, **like))",
            textbook_group_norm,
            "lambda x, w, b: textbook_group_norm(x, w, b, eps, x.shape[1])",
            module=True,
        ),
        _fn(
            "nn.GroupNorm",
            "groupnorm",
            "module_call(torch.nn.GroupNorm(num_groups, channels, eps, **like))",
            textbook_group_norm,
            "lambda x, w, b: textbook_group_norm(x, w, b, eps, num_groups)",
            module=True,
        ),
        _fn(
            "nn.LayerNorm",
            "layernorm",
            "module_call(torch.nn.LayerNorm(normalized_shape, eps, **like))",
            textbook_layer_norm,
            "lambda x, w, b: textbook_layer_norm(x, w, b, eps)",
            module=True,
        ),
        _fn(
            "nn.RMSNorm",
            "rmsnorm",
            "module_call(torch.nn.RMSNorm(normalized_shape, eps, **like))",
            textbook_rms_norm,
            "lambda x, w: textbook_rms_norm(x, w, eps)",
            bias=False,
            module=True,
        ),
    )
}


def module_call(module):
    """A module as a function of its input and parameters (``torch.func.functional_call``)."""
    names = [n for n in ("weight", "bias") if getattr(module, n, None) is not None]

    def f(x, *params):
        return torch.func.functional_call(module, dict(zip(names, params)), (x,))

    return f


def eval_batch_norm(channels, eps, running_mean, running_var):
    """``torch.nn.BatchNorm1d`` in eval mode with the given running statistics."""
    module = torch.nn.BatchNorm1d(
        channels, eps=eps, dtype=running_mean.dtype, device=running_mean.device
    )
    module.running_mean.copy_(running_mean)
    module.running_var.copy_(running_var)
    return module.eval()


# ======================================================================= the routes
# Each route: (f, primals, g, tangents) -> {kind: [one result per cotangent or tangent]}.
# ``g`` is a list of cotangents (the first is the case's), ``tangents`` a list of tuples
# (one tensor per primal).  Only torch is used: the source of each goes into repro scripts.
def route_autograd_grad(f, primals, g, tangents):
    """``torch.autograd.grad`` of the loss: the gradient."""
    p = [t.detach().requires_grad_() for t in primals]
    return {"grad": [torch.autograd.grad((g[0] * f(*p)).sum(), p)]}


def route_autograd_double_backward(f, primals, g, tangents):
    """``torch.autograd.grad`` twice (``create_graph=True``): the Hessian-vector product."""
    p = [t.detach().requires_grad_() for t in primals]
    grads = torch.autograd.grad((g[0] * f(*p)).sum(), p, create_graph=True)
    out = []
    for v in tangents:
        dot = sum((gi * vi).sum() for gi, vi in zip(grads, v))
        h = torch.autograd.grad(dot, p, retain_graph=True, allow_unused=True)
        out.append(tuple(torch.zeros_like(q) if hi is None else hi for q, hi in zip(p, h)))
    return {"hvp": out}


def _contract(blocks, tangent):
    """``sum_j H[i][j] . v_j`` for each ``i``: a Hessian as blocks, times a tangent."""
    return tuple(
        sum(torch.tensordot(row[j], v, dims=v.dim()) for j, v in enumerate(tangent))
        for row in blocks
    )


def route_autograd_functional_hessian(f, primals, g, tangents):
    """``torch.autograd.functional.hessian``: the full Hessian, times each tangent."""
    blocks = torch.autograd.functional.hessian(lambda *p: (g[0] * f(*p)).sum(), tuple(primals))
    return {"hvp": [_contract(blocks, v) for v in tangents]}


def route_autograd_functional_hvp(f, primals, g, tangents):
    """``torch.autograd.functional.hvp`` (double backward)."""
    loss = lambda *p: (g[0] * f(*p)).sum()
    return {
        "hvp": [torch.autograd.functional.hvp(loss, tuple(primals), tuple(v))[1] for v in tangents]
    }


def route_func_grad(f, primals, g, tangents):
    """``torch.func.grad`` of the loss."""
    argnums = tuple(range(len(primals)))
    return {"grad": [torch.func.grad(lambda *p: (g[0] * f(*p)).sum(), argnums)(*primals)]}


def route_func_vjp(f, primals, g, tangents):
    """``torch.func.vjp`` of the function, pulled back along the cotangent."""
    _, pullback = torch.func.vjp(f, *primals)
    return {"grad": [pullback(g[0])]}


def route_func_jvp(f, primals, g, tangents):
    """``torch.func.jvp`` of the function: the output's tangent."""
    return {"jvp": [torch.func.jvp(f, tuple(primals), tuple(v))[1] for v in tangents]}


def _jacobian_results(jac, g, tangents):
    """Gradient and tangents from a full Jacobian (one block per primal)."""
    gd = g[0].dim()
    grad = tuple(torch.tensordot(g[0], block, dims=gd) for block in jac)
    jvps = [
        sum(torch.tensordot(block, t, dims=t.dim()) for block, t in zip(jac, v)) for v in tangents
    ]
    return {"grad": [grad], "jvp": jvps}


def route_func_jacrev(f, primals, g, tangents):
    """``torch.func.jacrev`` of the function: the Jacobian, contracted both ways."""
    jac = torch.func.jacrev(f, tuple(range(len(primals))))(*primals)
    return _jacobian_results(jac, g, tangents)


def route_func_jacfwd(f, primals, g, tangents):
    """``torch.func.jacfwd`` of the function: the Jacobian, contracted both ways."""
    jac = torch.func.jacfwd(f, tuple(range(len(primals))))(*primals)
    return _jacobian_results(jac, g, tangents)


def route_func_hessian(f, primals, g, tangents):
    """``torch.func.hessian`` (``jacfwd(jacrev)``) of the loss, times each tangent."""
    argnums = tuple(range(len(primals)))
    blocks = torch.func.hessian(lambda *p: (g[0] * f(*p)).sum(), argnums)(*primals)
    return {"hvp": [_contract(blocks, v) for v in tangents]}


def route_jacrev_jacrev(f, primals, g, tangents):
    """``jacrev(jacrev)`` of the loss (reverse over reverse), times each tangent."""
    argnums = tuple(range(len(primals)))
    loss = lambda *p: (g[0] * f(*p)).sum()
    blocks = torch.func.jacrev(torch.func.jacrev(loss, argnums), argnums)(*primals)
    return {"hvp": [_contract(blocks, v) for v in tangents]}


def route_jvp_grad(f, primals, g, tangents):
    """``jvp(grad)``: forward over reverse."""
    argnums = tuple(range(len(primals)))
    gradient = torch.func.grad(lambda *p: (g[0] * f(*p)).sum(), argnums)
    return {"hvp": [torch.func.jvp(gradient, tuple(primals), tuple(v))[1] for v in tangents]}


def route_jvp_jacrev(f, primals, g, tangents):
    """``jvp(jacrev)``: forward over reverse, as curvlinops' Hessian-vector product."""
    argnums = tuple(range(len(primals)))
    gradient = torch.func.jacrev(lambda *p: (g[0] * f(*p)).sum(), argnums)
    return {"hvp": [torch.func.jvp(gradient, tuple(primals), tuple(v))[1] for v in tangents]}


def route_vjp_grad(f, primals, g, tangents):
    """``vjp(grad)``: reverse over reverse in ``torch.func``."""
    argnums = tuple(range(len(primals)))
    gradient = torch.func.grad(lambda *p: (g[0] * f(*p)).sum(), argnums)
    _, pullback = torch.func.vjp(gradient, *primals)
    return {"hvp": [pullback(tuple(v)) for v in tangents]}


def _stacked(tangents):
    """The tangents as one batch per primal (leading axis: the tangent)."""
    return tuple(torch.stack([v[i] for v in tangents]) for i in range(len(tangents[0])))


def _unstacked(batch, n):
    """A batch per primal back to a list of ``n`` tuples."""
    if isinstance(batch, torch.Tensor):
        return [batch[k] for k in range(n)]
    return [tuple(b[k] for b in batch) for k in range(n)]


def route_vmap_jvp(f, primals, g, tangents):
    """``vmap`` of ``torch.func.jvp`` over the batch of tangents."""
    one = lambda *v: torch.func.jvp(f, tuple(primals), v)[1]
    return {"jvp": _unstacked(torch.func.vmap(one)(*_stacked(tangents)), len(tangents))}


def route_vmap_vjp(f, primals, g, tangents):
    """``vmap`` of a ``torch.func.vjp`` pullback over a batch of cotangents."""
    _, pullback = torch.func.vjp(f, *primals)
    return {"grad": _unstacked(torch.func.vmap(pullback)(torch.stack(g)), len(g))}


def route_vmap_jvp_grad(f, primals, g, tangents):
    """``vmap`` of ``jvp(grad)`` over the batch of tangents."""
    argnums = tuple(range(len(primals)))
    gradient = torch.func.grad(lambda *p: (g[0] * f(*p)).sum(), argnums)
    one = lambda *v: torch.func.jvp(gradient, tuple(primals), v)[1]
    return {"hvp": _unstacked(torch.func.vmap(one)(*_stacked(tangents)), len(tangents))}


def route_vmap_jvp_jacrev(f, primals, g, tangents):
    """``vmap`` of ``jvp(jacrev)`` over the batch of tangents."""
    argnums = tuple(range(len(primals)))
    gradient = torch.func.jacrev(lambda *p: (g[0] * f(*p)).sum(), argnums)
    one = lambda *v: torch.func.jvp(gradient, tuple(primals), v)[1]
    return {"hvp": _unstacked(torch.func.vmap(one)(*_stacked(tangents)), len(tangents))}


def route_vmap_vjp_grad(f, primals, g, tangents):
    """``vmap`` of a ``vjp(grad)`` pullback over the batch of tangents."""
    argnums = tuple(range(len(primals)))
    gradient = torch.func.grad(lambda *p: (g[0] * f(*p)).sum(), argnums)
    _, pullback = torch.func.vjp(gradient, *primals)
    return {"hvp": _unstacked(torch.func.vmap(pullback)(_stacked(tangents)), len(tangents))}


def route_forward_ad(f, primals, g, tangents):
    """``torch.autograd.forward_ad`` dual numbers through the function."""
    fwad = torch.autograd.forward_ad
    out = []
    for v in tangents:
        with fwad.dual_level():
            duals = [fwad.make_dual(p, t) for p, t in zip(primals, v)]
            out.append(fwad.unpack_dual(f(*duals)).tangent)
    return {"jvp": out}


def route_forward_ad_over_backward(f, primals, g, tangents):
    """Dual numbers through ``torch.autograd.grad``: forward over reverse, without
    ``torch.func``."""
    fwad = torch.autograd.forward_ad
    out = []
    for v in tangents:
        with fwad.dual_level():
            p = [t.detach().requires_grad_() for t in primals]
            duals = [fwad.make_dual(q, t) for q, t in zip(p, v)]
            grads = torch.autograd.grad((g[0] * f(*duals)).sum(), duals)
            out.append(tuple(fwad.unpack_dual(h).tangent for h in grads))
    return {
        "hvp": [
            tuple(torch.zeros_like(q) if h is None else h for q, h in zip(primals, o)) for o in out
        ]
    }


@dataclass(frozen=True)
class Route:
    """An autodiff route: its id, what it computes, the function, and a line for the page."""

    name: str
    kinds: tuple[str, ...]
    run: Callable[..., dict]
    title: str


#: The routes by id (the claim ids' last part).
ROUTES: dict[str, Route] = {
    r.name: r
    for r in (
        Route("autograd-grad", ("grad",), route_autograd_grad, "torch.autograd.grad"),
        Route(
            "autograd-double-backward",
            ("hvp",),
            route_autograd_double_backward,
            "torch.autograd.grad twice (create_graph=True)",
        ),
        Route(
            "autograd-functional-hessian",
            ("hvp",),
            route_autograd_functional_hessian,
            "torch.autograd.functional.hessian",
        ),
        Route(
            "autograd-functional-hvp",
            ("hvp",),
            route_autograd_functional_hvp,
            "torch.autograd.functional.hvp",
        ),
        Route("grad", ("grad",), route_func_grad, "torch.func.grad"),
        Route("vjp", ("grad",), route_func_vjp, "torch.func.vjp"),
        Route("jvp", ("jvp",), route_func_jvp, "torch.func.jvp"),
        Route("jacrev", ("grad", "jvp"), route_func_jacrev, "torch.func.jacrev"),
        Route("jacfwd", ("grad", "jvp"), route_func_jacfwd, "torch.func.jacfwd"),
        Route("hessian", ("hvp",), route_func_hessian, "torch.func.hessian (jacfwd(jacrev))"),
        Route("jacrev-jacrev", ("hvp",), route_jacrev_jacrev, "jacrev(jacrev)"),
        Route("jvp-grad", ("hvp",), route_jvp_grad, "jvp(grad)"),
        Route("jvp-jacrev", ("hvp",), route_jvp_jacrev, "jvp(jacrev)"),
        Route("vjp-grad", ("hvp",), route_vjp_grad, "vjp(grad)"),
        Route("vmap-jvp", ("jvp",), route_vmap_jvp, "vmap(jvp) over tangents"),
        Route("vmap-vjp", ("grad",), route_vmap_vjp, "vmap(vjp) over cotangents"),
        Route("vmap-jvp-grad", ("hvp",), route_vmap_jvp_grad, "vmap(jvp(grad)) over tangents"),
        Route(
            "vmap-jvp-jacrev",
            ("hvp",),
            route_vmap_jvp_jacrev,
            "vmap(jvp(jacrev)) over tangents",
        ),
        Route("vmap-vjp-grad", ("hvp",), route_vmap_vjp_grad, "vmap(vjp(grad)) over tangents"),
        Route("forward-ad", ("jvp",), route_forward_ad, "torch.autograd.forward_ad"),
        Route(
            "forward-ad-over-backward",
            ("hvp",),
            route_forward_ad_over_backward,
            "forward_ad dual numbers through torch.autograd.grad",
        ),
    )
}


@dataclass(frozen=True)
class Peer:
    """A curvature library and the route its Hessian-vector product takes (read from its
    source at ``commit``)."""

    name: str
    api: str
    route: str
    commit: str
    where: str


#: Which route each peer library's Hessian-vector product uses.
PEERS: tuple[Peer, ...] = (
    Peer(
        "curvlinops",
        "HessianLinearOperator",
        "vmap-jvp-jacrev",
        "63fd690de70ce4f59a3361e6e3d89c71035845db",
        "curvlinops/hessian.py: jvp(jacrev(loss_fn), (params,), (v,)), vmapped over the "
        "columns in curvlinops/_torch_base.py",
    ),
    Peer(
        "PyHessian",
        "hessian_vector_product",
        "autograd-double-backward",
        "de8cf239ace21c7754ee599255897ebf3eed19cb",
        "pyhessian/utils.py: torch.autograd.grad(gradsH, params, grad_outputs=v)",
    ),
    Peer(
        "BackPACK",
        "hessianfree.hvp.hessian_vector_product",
        "autograd-double-backward",
        "366bcd603cb48e561155919537565e03f4574825",
        "backpack/hessianfree/hvp.py: grad(f, params, create_graph=True), then "
        "grad(<grad, v>, params)",
    ),
)


# ========================================================================= a case
DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass
class Case:
    """One case: a function's arguments, a cotangent batch and a tangent batch, in a dtype on
    a device.  ``data`` holds every number (JSON lists, float64-exact) and the sizes."""

    function: Function
    dtype: torch.dtype
    device: str
    primals: tuple[Tensor, ...]
    extra: dict[str, Any]
    cotangents: list[Tensor]
    tangents: list[tuple[Tensor, ...]]
    directions: list[str]

    def f(self) -> Callable[..., Tensor]:
        """The function under test as a callable of the primals."""
        names = {"torch": torch, **_helpers(), **self.extra}
        names["like"] = {"dtype": self.dtype, "device": self.device}
        return eval(self.function.call, names)


def _helpers() -> dict[str, Any]:
    return {"module_call": module_call, "eval_batch_norm": eval_batch_norm}


def _tensor(values: Any, dtype: torch.dtype, device: str) -> Tensor:
    return torch.tensor(values, dtype=torch.float64).to(device=device, dtype=dtype)


def build(data: dict) -> Case:
    """The case of a JSON record (:func:`draw`'s output, or a counterexample's numbers)."""
    fn = FUNCTIONS[data["function"]]
    dtype, device = DTYPES[data["dtype"]], data["device"]
    t = lambda v: _tensor(v, dtype, device)
    primals = tuple(t(data[k]) for k in fn.params)
    extra: dict[str, Any] = {"eps": data["eps"], "channels": data["shape"][1]}
    if "num_groups" in data:
        extra["num_groups"] = data["num_groups"]
    if "normalized_shape" in data:
        extra["normalized_shape"] = tuple(data["normalized_shape"])
    if not fn.training:
        extra["running_mean"] = t(data["running_mean"])
        extra["running_var"] = t(data["running_var"])
    return Case(
        function=fn,
        dtype=dtype,
        device=device,
        primals=primals,
        extra=extra,
        cotangents=[t(v) for v in data["cotangents"]],
        tangents=[tuple(t(v[k]) for k in fn.params) for v in data["tangents"]],
        directions=list(data["directions"]),
    )


def draw(
    function: str,
    dtype: str,
    device: str,
    sizes: tuple[int, int, int],
    seed: int,
    eps: float,
    weight_kind: str,
    loc: float,
    scale: float,
    family: str = "gaussian",
) -> dict:
    """A case's JSON from its drawn parameters: sizes ``(n, c, l)`` (batch, channels or
    features, spatial length), the numbers from a seeded numpy generator.  Every
    normalization group of the input is a batch of ``family``
    (:mod:`bntheory.cases.batches`), shifted by ``loc`` and scaled by ``scale``.  The
    tangents are one per direction (``x``, ``weight``, ``bias``: that argument alone) and one
    in all of them at once; the cotangents the case's ``g`` and two more (for ``vmap`` over
    them)."""
    import numpy as np

    from bntheory.cases.batches import make_groups
    from bntheory.norms.grouped import weight_example

    fn = FUNCTIONS[function]
    rng = np.random.default_rng(seed)
    n, c, length = sizes
    data: dict[str, Any] = {"function": function, "dtype": dtype, "device": device, "eps": eps}
    base = fn.name.removeprefix("nn.").split(".")[0].lower()
    if base in ("batch_norm", "batchnorm1d"):
        shape = (n, c) if length == 1 else (n, c, length)
        pshape = (c,)
    elif base in ("instance_norm", "instancenorm1d"):
        shape, pshape = (n, c, length + 1), (c,)
    elif base in ("group_norm", "groupnorm"):  # c groups of two channels each
        shape, pshape = (n, 2 * c, length), (2 * c,)
        data["num_groups"] = c
    else:  # layer_norm, rms_norm: over the last axis, or the last two
        shape = (n, c + 1) if length == 1 else (n, c, length)
        data["normalized_shape"] = list(shape[1:])
        pshape = tuple(shape[1:])
    data["shape"] = list(shape)
    data["family"] = family
    rows = group_rows(fn, shape, {**data, "pshape": pshape})
    x = np.zeros(math.prod(shape))
    x[rows] = (make_groups(family, rng, *rows.shape) + loc) * scale
    data["x"] = x.reshape(shape).tolist()
    data["weight"] = np.asarray(
        weight_example(pshape, weight_kind, rng, always_draw_signs=True)
    ).tolist()
    if fn.bias:
        data["bias"] = rng.normal(size=pshape).tolist()
    if not fn.training:
        data["running_mean"] = (rng.normal(size=pshape) * scale + loc * scale).tolist()
        data["running_var"] = (rng.lognormal(0, 1, size=pshape) * scale**2).tolist()
    sizes_of = {"x": shape, "weight": pshape, "bias": pshape}
    directions = list(fn.params) + ["all"]
    tangents = []
    for d in directions:
        tangents.append(
            {
                k: (rng.normal(size=sizes_of[k]) if d in (k, "all") else np.zeros(sizes_of[k]))
                .reshape(sizes_of[k])
                .tolist()
                for k in fn.params
            }
        )
    data["tangents"], data["directions"] = tangents, directions
    data["cotangents"] = [rng.normal(size=shape).tolist() for _ in range(3)]
    if dtype == "float32":  # the numbers the float32 case holds, exactly
        data = _rounded(data)
    return data


def _rounded(data: dict) -> dict:
    """Every number of a case rounded to float32 (so that the JSON is what the case holds)."""

    def r(v):
        if isinstance(v, list):
            return [r(e) for e in v]
        if isinstance(v, float):
            return float(torch.tensor(v, dtype=torch.float32))
        return v

    keys = ("x", "weight", "bias", "running_mean", "running_var", "cotangents")
    out = {k: (r(v) if k in keys else v) for k, v in data.items()}
    out["tangents"] = [{k: r(v) for k, v in t.items()} for t in data["tangents"]]
    return out


# ================================================================= the comparison
@dataclass(frozen=True)
class Finding:
    """The worst disagreement of a route at a case: ``ratio`` = error / allowed (in units of
    the error model; above 1 is a disagreement), where (``kind``, ``index`` of the cotangent
    or tangent, ``block``, ``entry``), and the two values there.  ``applicable`` is False
    where the case is outside the function's domain: the input is not finite in the dtype
    (a huge-scale batch in float32), the function refuses it (``F.batch_norm`` in training
    mode refuses ``eps = 0``) or its value is not finite, or the derivative does not exist
    (a constant group with ``eps = 0``) or overflows float64; ``block`` then says why."""

    ratio: float
    error: float
    allowed: float
    kind: str
    index: int
    block: str
    entry: list[int]
    route_value: float
    exact_value: float
    applicable: bool = True

    def to_json(self) -> dict:
        """The finding as JSON (non-finite numbers as strings)."""
        out = dict(self.__dict__)
        for k in ("ratio", "error", "allowed", "route_value", "exact_value"):
            if not math.isfinite(out[k]):
                out[k] = str(out[k])
        return out


def exact(case: Case) -> dict[str, list]:
    """The closed forms at ``case`` in float64 on its device: the gradient per cotangent,
    the output's tangent and the HVP per tangent, with each block's error-model scale."""
    d64 = lambda t: t.to(torch.float64)
    fn = case.function
    x, *params = (d64(p) for p in case.primals)
    kwargs = layer_kwargs(fn, case.extra, params)
    c = affine.call(fn.layer, x, kwargs)
    blocks = lambda v: affine.Blocks(*(d64(t) for t in v))
    g0 = d64(case.cotangents[0])
    out: dict[str, list] = {"grad": [], "jvp": [], "hvp": []}
    for g in case.cotangents:
        g = d64(g)
        out["grad"].append((affine.gradient(c, g), affine.scales("gradient", c, g, None)))
    for v in case.tangents:
        b = blocks(v)
        out["jvp"].append((affine.Blocks(x=affine.jvp(c, b)), affine.scales("jvp", c, g0, b)))
        out["hvp"].append((affine.hvp(c, g0, b), affine.scales("hvp", c, g0, b)))
    out["condition"] = [affine.condition(c, case.dtype)]
    out["length"] = [affine.sum_length(c)]
    return out


def layer_kwargs(fn: Function, extra: dict[str, Any], params: list[Tensor]) -> dict[str, Any]:
    """The keyword arguments of the registered layer's call that ``fn`` makes, from a case's
    ``extra`` (eps, groups, shape, running statistics) and its parameters (float64)."""
    kw: dict[str, Any] = {"weight": params[0], "eps": extra["eps"]}
    if fn.bias:
        kw["bias"] = params[1]
    if fn.layer == "batchnorm":
        kw["training"] = fn.training
        for key in ("running_mean", "running_var"):
            kw[key] = None if fn.training else extra[key].to(torch.float64)
    elif fn.layer == "groupnorm":
        kw["num_groups"] = extra["num_groups"]
    elif fn.layer in ("layernorm", "rmsnorm"):
        kw["normalized_shape"] = extra["normalized_shape"]
    return kw


def group_rows(fn: Function, shape: tuple[int, ...], extra: dict[str, Any]) -> Any:
    """``(G, m)`` flat indices of the input's entries, one row per normalization group of
    ``fn`` (so that a batch family can fill each group)."""
    pshape = tuple(extra["pshape"])
    ones = torch.ones(pshape, dtype=torch.float64)
    stats = {"running_mean": torch.zeros(pshape), "running_var": torch.ones(pshape)}
    kw = layer_kwargs(fn, {**extra, **stats, "eps": 1.0}, [ones, ones * 0])
    numbered = torch.arange(math.prod(shape), dtype=torch.float64).reshape(shape)
    plan = affine.plan_of(fn.layer, numbered, kw)
    return plan.rows(numbered).long().numpy()


def check(route: Route, case: Case) -> Finding:
    """``route`` at ``case`` against the closed forms: the worst block's :class:`Finding`.

    Each block of each result (a gradient, an output tangent, an HVP) is compared in the
    Euclidean norm with the error model's bound :math:`C u \\kappa (1+\\log_2 n) S`
    (:func:`~bntheory.verify.errormodel.relative_tolerance`; ``u`` of the case's dtype,
    :math:`\\kappa` the largest condition estimate of the groups, ``n`` the longest sum).
    ``S`` is normwise: the summed term scales of all blocks of that result
    (:func:`bntheory.norms.affine.scales`), because a route computes the blocks jointly and
    may reach an exact zero (:math:`H_{WW}V_W = 0`) by cancelling terms of that size.  A route
    that raises (an unsupported operation, a shape error) is a disagreement too: its
    finding has ``ratio = inf`` and the error's message as ``block``."""
    f = case.f()
    outside = lambda why: Finding(0.0, 0.0, 0.0, route.kinds[0], 0, why[:300], [], 0, 0, False)
    if not all(bool(torch.isfinite(p).all()) for p in case.primals):
        return outside("the input is not finite in this dtype")
    try:
        value = f(*case.primals)
    except (RuntimeError, ValueError) as exc:  # the function refuses the case (a harness
        return outside(f"refused {exc!r}")  # bug, a NameError or TypeError, propagates)
    if not bool(torch.isfinite(value).all()):
        return outside("the function's value is not finite")
    try:
        ref = exact(case)
    except BNTheoryError as exc:  # a constant group with eps = 0: no derivative
        return outside(f"no derivative: {exc}")
    blocks = [b for kind in KINDS for pair in ref[kind] for part in pair for _, b in part.items()]
    if not all(bool(torch.isfinite(b).all()) for b in blocks):  # the values and their scales
        return outside("the derivative or its scale overflows float64")
    kappa = torch.tensor(ref["condition"][0], dtype=torch.float64)
    tol = float(relative_tolerance(case.dtype, kappa, ref["length"][0]))
    try:
        got = route.run(f, list(case.primals), case.cotangents, case.tangents)
    except Exception as exc:  # noqa: BLE001 - the failure is the finding
        return Finding(
            math.inf, math.inf, 0.0, route.kinds[0], 0, f"raises {exc!r}"[:300], [], 0, 0
        )
    worst: Finding | None = None
    for kind in route.kinds:
        results = list(got.get(kind, []))
        wanted = len(case.tangents) if kind != "grad" else (1, len(case.cotangents))
        if len(results) not in (wanted if isinstance(wanted, tuple) else (wanted,)):
            return _malformed(kind, f"returns {len(results)} {kind} results")
        for i, (value, (closed, scale)) in enumerate(zip(results, ref[kind])):
            value = (value,) if kind == "jvp" else tuple(value)
            if len(value) != len(closed.items()):
                return _malformed(kind, f"returns {len(value)} blocks, not {len(closed.items())}")
            total = sum(float(s) for _, s in scale.items())  # normwise over the product
            for (name, a), b in zip(closed.items(), value):
                if tuple(b.shape) != tuple(a.shape):
                    return _malformed(kind, f"returns shape {tuple(b.shape)} for {name}")
                fnd = _compare(kind, i, name, b, a, tol * total)
                if worst is None or fnd.ratio > worst.ratio:
                    worst = fnd
    assert worst is not None
    return worst


def _malformed(kind: str, what: str) -> Finding:
    """A route whose result has the wrong count or shape: a disagreement (``ratio = inf``)."""
    return Finding(math.inf, math.inf, 0.0, kind, 0, what, [], 0, 0)


def _compare(kind: str, i: int, block: str, got: Tensor, exact_value: Tensor, allowed: float):
    got64 = got.detach().to(torch.float64)
    diff = (got64 - exact_value).abs()
    finite = bool(torch.isfinite(got64).all())
    error = float(affine.norm(diff)) if finite else math.inf  # scaled: entries reach 1e200
    r = float(ratio(torch.tensor(error), torch.tensor(allowed))) if finite else math.inf
    r = math.inf if math.isnan(r) else r  # never let a NaN pass as agreement
    flat = int(diff.nan_to_num(math.inf).reshape(-1).argmax()) if diff.numel() else 0
    entry = list(torch.unravel_index(torch.tensor(flat), exact_value.shape)) if diff.numel() else []
    return Finding(
        ratio=r,
        error=error,
        allowed=allowed,
        kind=kind,
        index=i,
        block=block,
        entry=[int(e) for e in entry],
        route_value=float(got64.reshape(-1)[flat]) if diff.numel() else 0.0,
        exact_value=float(exact_value.reshape(-1)[flat]) if diff.numel() else 0.0,
    )


# ================================================================= repro scripts
def repro_script(function: str, route: str, data: dict, finding: dict, header: str) -> str:
    """A standalone script (plain torch) that shows ``route`` disagreeing with autograd of
    ``function``'s textbook forward at the case ``data``: the route runs in the case's dtype,
    the reference (the textbook forward, differentiated by ``torch.autograd.grad`` for a
    gradient, dual numbers for a tangent, ``torch.autograd.grad`` twice for an HVP) in
    float64 on the same numbers.  It prints both values at the worst entry of ``finding``'s
    block and the block's error, and exits with status 1 when that error exceeds the error
    model's bound on the block (``finding["allowed"]``).  A route that raised is called
    and raises again."""
    fn, rt = FUNCTIONS[function], ROUTES[route]
    names = {"x": "x", "weight": "w", "bias": "b"}
    comment = ["# " + line for line in textwrap.wrap(" ".join(header.split()), 96)]
    lines = ["#!/usr/bin/env python3", *comment, "import sys", "", "import torch", ""]
    if fn.module:
        for helper in (module_call, eval_batch_norm):
            lines += [inspect.getsource(helper), ""]
    lines += [inspect.getsource(fn.textbook), ""]
    kind, index = finding["kind"], finding["index"]
    ref_route = {
        "grad": route_autograd_grad,
        "jvp": route_forward_ad,
        "hvp": route_autograd_double_backward,
    }[kind]
    runs = [ref_route] if ref_route is rt.run else [ref_route, rt.run]
    for helper in (_contract, _jacobian_results, _stacked, _unstacked):
        if any(helper.__name__ in inspect.getsource(r) for r in runs):
            lines += [inspect.getsource(helper), ""]
    for r in runs:
        lines += [inspect.getsource(r), ""]
    lines += [
        f"dtype, device = torch.{data['dtype']}, {data['device']!r}",
        "t64 = lambda v: torch.tensor(v, dtype=torch.float64, device=device)",
        "like = {'dtype': dtype, 'device': device}",
    ]
    for k in fn.params:
        lines.append(f"{names[k]}64 = t64({data[k]!r})")
    lines.append(f"eps = {data['eps']!r}")
    lines.append(f"channels = {data['shape'][1]}")
    if "num_groups" in data:
        lines.append(f"num_groups = {data['num_groups']}")
    if "normalized_shape" in data:
        lines.append(f"normalized_shape = {tuple(data['normalized_shape'])!r}")
    if not fn.training:
        lines.append(f"running_mean64 = t64({data['running_mean']!r})")
        lines.append(f"running_var64 = t64({data['running_var']!r})")
        lines.append(
            "running_mean, running_var = running_mean64.to(dtype), running_var64.to(dtype)"
        )
    cotangents = data["cotangents"] if kind == "grad" else data["cotangents"][:1]
    lines += [
        f"g64 = [t64(v) for v in {cotangents!r}]",
        "tangents64 = [tuple(t64(v[k]) for k in "
        f"{list(fn.params)!r}) for v in {data['tangents']!r}]",
        f"primals64 = [{', '.join(names[k] + '64' for k in fn.params)}]",
        "primals = [p.to(dtype) for p in primals64]",
        "g = [c.to(dtype) for c in g64]",
        "tangents = [tuple(v.to(dtype) for v in tangent) for tangent in tangents64]",
        f"f = {fn.call}",
    ]
    if not fn.training:  # the reference reads the float64 running statistics
        lines.append(
            f"reference = (lambda running_mean, running_var: {fn.textbook_call})"
            "(running_mean64, running_var64)"
        )
    else:
        lines.append(f"reference = {fn.textbook_call}")
    if finding["block"].startswith("raises"):
        lines += [
            f'print("{function} via {rt.title}: the route raises")',
            f"{rt.run.__name__}(f, primals, g, tangents)  # raises",
        ]
        return "\n".join(lines) + "\n"
    block = ["x", "weight", "bias"].index(finding["block"]) if kind != "jvp" else 0
    pick = "" if kind == "jvp" else f"[{block}]"
    lines += [
        f"got = {rt.run.__name__}(f, primals, g, tangents)[{kind!r}][{index}]{pick}",
        f"want = {ref_route.__name__}(reference, primals64, g64, tangents64)"
        f"[{kind!r}][{index}]{pick}",
        "diff = (got.double() - want).abs()",
        "i = tuple(int(k) for k in torch.unravel_index(diff.argmax(), diff.shape))",
        f'print("{function} via {rt.title}: {kind} block {finding["block"]}, entry", i)',
        'print("route      ", float(got[i]))',
        'print("reference  ", float(want[i]), "(autograd of the textbook forward, float64)")',
        f"allowed = {finding['allowed']!r}  # the error model's bound on the block's error",
        "error = float(torch.linalg.vector_norm(diff / diff.max())) * float(diff.max())",
        'print("error      ", error, "allowed", allowed, "(Euclidean norm over the block)")',
        "sys.exit(1 if not error <= allowed else 0)",
    ]
    return "\n".join(lines) + "\n"
