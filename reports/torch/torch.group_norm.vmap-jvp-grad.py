#!/usr/bin/env python3
"""torch.group_norm.vmap-jvp-grad on cpu, torch 2.13.0+cpu: vmap(jvp(grad)) over tangents of group_norm disagrees with autograd of the textbook forward (hvp, block weight; 10.5 times the error model's bound). Written by bntheory report / bntheory torch-check."""
import sys

import torch

def textbook_group_norm(x, w, b, eps, num_groups):
    """GroupNorm in elementary ops (InstanceNorm: one group per channel)."""
    v = x.reshape(x.shape[0], num_groups, -1)
    c = v - v.mean(2, keepdim=True)
    n = (c / torch.sqrt((c * c).mean(2, keepdim=True) + eps)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return n * w.reshape(shape) + b.reshape(shape)


def _stacked(tangents):
    """The tangents as one batch per primal (leading axis: the tangent)."""
    return tuple(torch.stack([v[i] for v in tangents]) for i in range(len(tangents[0])))


def _unstacked(batch, n):
    """A batch per primal back to a list of ``n`` tuples."""
    if isinstance(batch, torch.Tensor):
        return [batch[k] for k in range(n)]
    return [tuple(b[k] for b in batch) for k in range(n)]


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


def route_vmap_jvp_grad(f, primals, g, tangents):
    """``vmap`` of ``jvp(grad)`` over the batch of tangents."""
    argnums = tuple(range(len(primals)))
    gradient = torch.func.grad(lambda *p: (g[0] * f(*p)).sum(), argnums)
    one = lambda *v: torch.func.jvp(gradient, tuple(primals), v)[1]
    return {"hvp": _unstacked(torch.func.vmap(one)(*_stacked(tangents)), len(tangents))}


dtype, device = torch.float64, 'cpu'
t = lambda v: torch.tensor(v, dtype=torch.float64).to(device=device, dtype=dtype)
like = {'dtype': dtype, 'device': device}
x = t([[[923.5144262634886], [1093.7508447100327]], [[1118.401229968435], [1078.7618083227792]]])
w = t([-0.49473390045005083, 0.2821203655138102])
b = t([0.0413259793472436, -2.3250307746388343])
eps = 0.0
channels = 2
num_groups = 1
g = [t([[[0.2201951234700494], [-1.009618183538736]], [[-0.20917557487171307], [-0.15922500991447772]]])]
tangents = [tuple(t(v[k]) for k in ['x', 'weight', 'bias']) for v in [{'x': [[[-0.21879166393254573], [-1.2459109472530652]], [[-0.7322673547034516], [-0.5442589828573099]]], 'weight': [0.0, 0.0], 'bias': [0.0, 0.0]}, {'x': [[[0.0], [0.0]], [[0.0], [0.0]]], 'weight': [-0.31630015636915454, 0.4116305363741328], 'bias': [0.0, 0.0]}, {'x': [[[0.0], [0.0]], [[0.0], [0.0]]], 'weight': [0.0, 0.0], 'bias': [1.0425133694426776, -0.12853466294403426]}, {'x': [[[1.3664634705496859], [-0.6651946734866135]], [[0.3515100700930197], [0.9034701816518086]]], 'weight': [0.09401229776087457, -0.7434992493538084], 'bias': [-0.9217253762584194, -0.45772582566733916]}]]
f = lambda x, w, b: torch.nn.functional.group_norm(x, num_groups, w, b, eps)
reference = lambda x, w, b: textbook_group_norm(x, w, b, eps, num_groups)
primals = [x, w, b]
got = route_vmap_jvp_grad(f, primals, g, tangents)['hvp'][1][1]
want = route_autograd_double_backward(reference, primals, g, tangents)['hvp'][1][1]
i = (0,)
got_i, want_i = float(got[i]), float(want[i])
print("group_norm via vmap(jvp(grad)) over tangents: hvp block weight, entry", i)
print("route      ", got_i)
print("reference  ", want_i, "(autograd of the textbook forward)")
allowed = 8.210068641694884e-15  # the error model's bound on this block
print("difference ", abs(got_i - want_i), "allowed", allowed)
sys.exit(1 if not abs(got_i - want_i) <= allowed else 0)
