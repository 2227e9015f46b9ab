#!/usr/bin/env python3
# torch.nn.GroupNorm.vmap-jvp-jacrev on cpu, torch 2.13.0+cpu, the shrunk counterexample:
# vmap(jvp(jacrev)) over tangents of nn.GroupNorm disagrees with autograd of the textbook forward
# (hvp, block weight; 2.78 times the error model's bound). Written by bntheory report / bntheory
# torch-check.
import sys

import torch

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


def route_vmap_jvp_jacrev(f, primals, g, tangents):
    """``vmap`` of ``jvp(jacrev)`` over the batch of tangents."""
    argnums = tuple(range(len(primals)))
    gradient = torch.func.jacrev(lambda *p: (g[0] * f(*p)).sum(), argnums)
    one = lambda *v: torch.func.jvp(gradient, tuple(primals), v)[1]
    return {"hvp": _unstacked(torch.func.vmap(one)(*_stacked(tangents)), len(tangents))}


dtype, device = torch.float64, 'cpu'
t64 = lambda v: torch.tensor(v, dtype=torch.float64, device=device)
like = {'dtype': dtype, 'device': device}
x64 = t64([[[10000.125730221094], [-0.1321048632913019]], [[0.6404226504432821], [10000.104900117152]]])
w64 = t64([0.0, 0.0])
b64 = t64([-1.2654214710460525, -0.6232744625373522])
eps = 1e-05
channels = 2
num_groups = 1
g64 = [t64(v) for v in [[[[-0.9217253762584194], [-0.45772582566733916]], [[0.2201951234700494], [-1.009618183538736]]]]]
tangents64 = [tuple(t64(v[k]) for k in ['x', 'weight', 'bias']) for v in [{'x': [[[0.0413259793472436], [-2.3250307746388343]], [[-0.21879166393254573], [-1.2459109472530652]]], 'weight': [0.0, 0.0], 'bias': [0.0, 0.0]}, {'x': [[[0.0], [0.0]], [[0.0], [0.0]]], 'weight': [-0.7322673547034516, -0.5442589828573099], 'bias': [0.0, 0.0]}, {'x': [[[0.0], [0.0]], [[0.0], [0.0]]], 'weight': [0.0, 0.0], 'bias': [-0.31630015636915454, 0.4116305363741328]}, {'x': [[[1.0425133694426776], [-0.12853466294403426]], [[1.3664634705496859], [-0.6651946734866135]]], 'weight': [0.3515100700930197, 0.9034701816518086], 'bias': [0.09401229776087457, -0.7434992493538084]}]]
primals64 = [x64, w64, b64]
primals = [p.to(dtype) for p in primals64]
g = [c.to(dtype) for c in g64]
tangents = [tuple(v.to(dtype) for v in tangent) for tangent in tangents64]
f = module_call(torch.nn.GroupNorm(num_groups, channels, eps, **like))
reference = lambda x, w, b: textbook_group_norm(x, w, b, eps, num_groups)
got = route_vmap_jvp_jacrev(f, primals, g, tangents)['hvp'][0][1]
want = route_autograd_double_backward(reference, primals64, g64, tangents64)['hvp'][0][1]
diff = (got.double() - want).abs()
i = tuple(int(k) for k in torch.unravel_index(diff.argmax(), diff.shape))
print("nn.GroupNorm via vmap(jvp(jacrev)) over tangents: hvp block weight, entry", i)
print("route      ", float(got[i]))
print("reference  ", float(want[i]), "(autograd of the textbook forward, float64)")
allowed = 2.872554591801966e-17  # the error model's bound on the block's error
error = float(torch.linalg.vector_norm(diff / diff.max())) * float(diff.max())
print("error      ", error, "allowed", allowed, "(Euclidean norm over the block)")
sys.exit(1 if not error <= allowed else 0)
