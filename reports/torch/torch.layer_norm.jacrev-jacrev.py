#!/usr/bin/env python3
"""torch.layer_norm.jacrev-jacrev on cpu, torch 2.13.0+cpu: jacrev(jacrev) of layer_norm disagrees with autograd of the textbook forward (hvp, block weight; 1.95e+12 times the error model's bound). Written by bntheory report / bntheory torch-check."""
import sys

import torch

def textbook_layer_norm(x, w, b, eps):
    """LayerNorm in elementary ops: over the trailing ``w.dim()`` axes."""
    dims = tuple(range(x.dim() - w.dim(), x.dim()))
    c = x - x.mean(dims, keepdim=True)
    return c / torch.sqrt((c * c).mean(dims, keepdim=True) + eps) * w + b


def _contract(blocks, tangent):
    """``sum_j H[i][j] . v_j`` for each ``i``: a Hessian as blocks, times a tangent."""
    return tuple(
        sum(torch.tensordot(row[j], v, dims=v.dim()) for j, v in enumerate(tangent))
        for row in blocks
    )


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


def route_jacrev_jacrev(f, primals, g, tangents):
    """``jacrev(jacrev)`` of the loss (reverse over reverse), times each tangent."""
    argnums = tuple(range(len(primals)))
    loss = lambda *p: (g[0] * f(*p)).sum()
    blocks = torch.func.jacrev(torch.func.jacrev(loss, argnums), argnums)(*primals)
    return {"hvp": [_contract(blocks, v) for v in tangents]}


dtype, device = torch.float64, 'cpu'
t = lambda v: torch.tensor(v, dtype=torch.float64).to(device=device, dtype=dtype)
like = {'dtype': dtype, 'device': device}
x = t([[-0.7648557373651128, 0.9375084471003268], [1.1840122996843496, 0.7876180832277915]])
w = t([-0.49473390045005083, 0.2821203655138102])
b = t([0.0413259793472436, -2.3250307746388343])
eps = 0.0
channels = 2
normalized_shape = (2,)
g = [t([[0.2201951234700494, -1.009618183538736], [-0.20917557487171307, -0.15922500991447772]])]
tangents = [tuple(t(v[k]) for k in ['x', 'weight', 'bias']) for v in [{'x': [[-0.21879166393254573, -1.2459109472530652], [-0.7322673547034516, -0.5442589828573099]], 'weight': [0.0, 0.0], 'bias': [0.0, 0.0]}, {'x': [[0.0, 0.0], [0.0, 0.0]], 'weight': [-0.31630015636915454, 0.4116305363741328], 'bias': [0.0, 0.0]}, {'x': [[0.0, 0.0], [0.0, 0.0]], 'weight': [0.0, 0.0], 'bias': [1.0425133694426776, -0.12853466294403426]}, {'x': [[1.3664634705496859, -0.6651946734866135], [0.3515100700930197, 0.9034701816518086]], 'weight': [0.09401229776087457, -0.7434992493538084], 'bias': [-0.9217253762584194, -0.45772582566733916]}]]
f = lambda x, w, b: torch.nn.functional.layer_norm(x, normalized_shape, w, b, eps)
reference = lambda x, w, b: textbook_layer_norm(x, w, b, eps)
primals = [x, w, b]
got = route_jacrev_jacrev(f, primals, g, tangents)['hvp'][0][1]
want = route_autograd_double_backward(reference, primals, g, tangents)['hvp'][0][1]
i = (1,)
got_i, want_i = float(got[i]), float(want[i])
print("layer_norm via jacrev(jacrev): hvp block weight, entry", i)
print("route      ", got_i)
print("reference  ", want_i, "(autograd of the textbook forward)")
allowed = 1.050735761214435e-12  # the error model's bound on this block
print("difference ", abs(got_i - want_i), "allowed", allowed)
sys.exit(1 if not abs(got_i - want_i) <= allowed else 0)
