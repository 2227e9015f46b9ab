#!/usr/bin/env python3
"""torch.batch_norm.vmap-jvp-jacrev on cpu, torch 2.13.0+cpu: vmap(jvp(jacrev)) over tangents of batch_norm disagrees with autograd of the textbook forward (hvp, block weight; 3.89e+12 times the error model's bound). Written by bntheory report / bntheory torch-check."""
import sys

import torch

def textbook_batch_norm(x, w, b, eps):
    """BatchNorm in elementary ops: each channel over the batch and spatial axes."""
    dims = (0,) + tuple(range(2, x.dim()))
    shape = (1, -1) + (1,) * (x.dim() - 2)
    c = x - x.mean(dims, keepdim=True)
    return c / torch.sqrt((c * c).mean(dims, keepdim=True) + eps) * w.reshape(shape) + b.reshape(
        shape
    )


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


def route_vmap_jvp_jacrev(f, primals, g, tangents):
    """``vmap`` of ``jvp(jacrev)`` over the batch of tangents."""
    argnums = tuple(range(len(primals)))
    gradient = torch.func.jacrev(lambda *p: (g[0] * f(*p)).sum(), argnums)
    one = lambda *v: torch.func.jvp(gradient, tuple(primals), v)[1]
    return {"hvp": _unstacked(torch.func.vmap(one)(*_stacked(tangents)), len(tangents))}


dtype, device = torch.float64, 'cpu'
t = lambda v: torch.tensor(v, dtype=torch.float64).to(device=device, dtype=dtype)
like = {'dtype': dtype, 'device': device}
x = t([[0.8126302157526806], [0.34337907584076677]])
w = t([0.0])
b = t([1.3040000451301372])
eps = 1e-05
channels = 1
g = [t([[-0.7322673547034516], [-0.5442589828573099]])]
tangents = [tuple(t(v[k]) for k in ['x', 'weight', 'bias']) for v in [{'x': [[0.9470809631292422], [-0.7037352358069926]], 'weight': [0.0], 'bias': [0.0]}, {'x': [[0.0], [0.0]], 'weight': [-1.2654214710460525], 'bias': [0.0]}, {'x': [[0.0], [0.0]], 'weight': [0.0], 'bias': [-0.6232744625373522]}, {'x': [[0.0413259793472436], [-2.3250307746388343]], 'weight': [-0.21879166393254573], 'bias': [-1.2459109472530652]}]]
f = lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, training=True, momentum=0.1, eps=eps)
reference = lambda x, w, b: textbook_batch_norm(x, w, b, eps)
primals = [x, w, b]
got = route_vmap_jvp_jacrev(f, primals, g, tangents)['hvp'][3][1]
want = route_autograd_double_backward(reference, primals, g, tangents)['hvp'][3][1]
i = (0,)
got_i, want_i = float(got[i]), float(want[i])
print("batch_norm via vmap(jvp(jacrev)) over tangents: hvp block weight, entry", i)
print("route      ", got_i)
print("reference  ", want_i, "(autograd of the textbook forward)")
allowed = 1.3544083065101937e-12  # the error model's bound on this block
print("difference ", abs(got_i - want_i), "allowed", allowed)
sys.exit(1 if not abs(got_i - want_i) <= allowed else 0)
