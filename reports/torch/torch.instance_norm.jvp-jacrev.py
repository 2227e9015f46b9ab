#!/usr/bin/env python3
# torch.instance_norm.jvp-jacrev on cpu, torch 2.13.0+cpu, the shrunk counterexample: jvp(jacrev)
# of instance_norm disagrees with autograd of the textbook forward (hvp, block weight; 1.26e+12
# times the error model's bound). Written by bntheory report / bntheory torch-check.
import sys

import torch

def textbook_group_norm(x, w, b, eps, num_groups):
    """GroupNorm in elementary ops (InstanceNorm: one group per channel)."""
    v = x.reshape(x.shape[0], num_groups, -1)
    c = v - v.mean(2, keepdim=True)
    n = (c / torch.sqrt((c * c).mean(2, keepdim=True) + eps)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return n * w.reshape(shape) + b.reshape(shape)


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


def route_jvp_jacrev(f, primals, g, tangents):
    """``jvp(jacrev)``: forward over reverse, as curvlinops' Hessian-vector product."""
    argnums = tuple(range(len(primals)))
    gradient = torch.func.jacrev(lambda *p: (g[0] * f(*p)).sum(), argnums)
    return {"hvp": [torch.func.jvp(gradient, tuple(primals), tuple(v))[1] for v in tangents]}


dtype, device = torch.float64, 'cpu'
t64 = lambda v: torch.tensor(v, dtype=torch.float64, device=device)
like = {'dtype': dtype, 'device': device}
x64 = t64([[[-0.7648557373651128, 0.9375084471003268]], [[1.1840122996843496, 0.7876180832277915]]])
w64 = t64([0.0])
b64 = t64([-0.6232744625373522])
eps = 1e-05
channels = 1
g64 = [t64(v) for v in [[[[0.3515100700930197, 0.9034701816518086]], [[0.09401229776087457, -0.7434992493538084]]]]]
tangents64 = [tuple(t64(v[k]) for k in ['x', 'weight', 'bias']) for v in [{'x': [[[0.0413259793472436, -2.3250307746388343]], [[-0.21879166393254573, -1.2459109472530652]]], 'weight': [0.0], 'bias': [0.0]}, {'x': [[[0.0, 0.0]], [[0.0, 0.0]]], 'weight': [-0.7322673547034516], 'bias': [0.0]}, {'x': [[[0.0, 0.0]], [[0.0, 0.0]]], 'weight': [0.0], 'bias': [-0.5442589828573099]}, {'x': [[[-0.31630015636915454, 0.4116305363741328]], [[1.0425133694426776, -0.12853466294403426]]], 'weight': [1.3664634705496859], 'bias': [-0.6651946734866135]}]]
primals64 = [x64, w64, b64]
primals = [p.to(dtype) for p in primals64]
g = [c.to(dtype) for c in g64]
tangents = [tuple(v.to(dtype) for v in tangent) for tangent in tangents64]
f = lambda x, w, b: torch.nn.functional.instance_norm(x, weight=w, bias=b, eps=eps)
reference = lambda x, w, b: textbook_group_norm(x, w, b, eps, x.shape[1])
got = route_jvp_jacrev(f, primals, g, tangents)['hvp'][0][1]
want = route_autograd_double_backward(reference, primals64, g64, tangents64)['hvp'][0][1]
diff = (got.double() - want).abs()
i = tuple(int(k) for k in torch.unravel_index(diff.argmax(), diff.shape))
print("instance_norm via jvp(jacrev): hvp block weight, entry", i)
print("route      ", float(got[i]))
print("reference  ", float(want[i]), "(autograd of the textbook forward, float64)")
allowed = 1.6757373781499242e-12  # the error model's bound on the block's error
error = float(torch.linalg.vector_norm(diff / diff.max())) * float(diff.max())
print("error      ", error, "allowed", allowed, "(Euclidean norm over the block)")
sys.exit(1 if not error <= allowed else 0)
