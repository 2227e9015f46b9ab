#!/usr/bin/env python3
# torch.nn.GroupNorm.jvp-grad on cpu, torch 2.13.0+cpu, the worst case seen: jvp(grad) of
# nn.GroupNorm disagrees with autograd of the textbook forward (hvp, block x; 240 times the error
# model's bound). Written by bntheory report / bntheory torch-check.
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


def route_jvp_grad(f, primals, g, tangents):
    """``jvp(grad)``: forward over reverse."""
    argnums = tuple(range(len(primals)))
    gradient = torch.func.grad(lambda *p: (g[0] * f(*p)).sum(), argnums)
    return {"hvp": [torch.func.jvp(gradient, tuple(primals), tuple(v))[1] for v in tangents]}


dtype, device = torch.float32, 'cpu'
t64 = lambda v: torch.tensor(v, dtype=torch.float64, device=device)
like = {'dtype': dtype, 'device': device}
x64 = t64([[[79396.21875], [79396.2109375], [-10968.0576171875], [-10968.0576171875], [6832.7783203125], [6832.77294921875]], [[33301.0859375], [33300.94140625], [46709.28515625], [46709.28515625], [44297.890625], [44297.890625]]])
w64 = t64([0.3834797143936157, -1.7664880752563477, 0.0, 0.4278423488140106, 1.058438777923584, -0.9491974711418152])
b64 = t64([0.005671223159879446, -1.5763331651687622, 0.7423096895217896, 0.9716947674751282, 1.4272918701171875, -1.6337027549743652])
eps = 1e-05
channels = 6
num_groups = 3
g64 = [t64(v) for v in [[[[-0.10730606317520142], [0.7725629210472107], [-0.18010957539081573], [-0.9167793393135071], [-0.776885986328125], [1.8640975952148438]], [[0.7301806211471558], [2.682467222213745], [0.22460567951202393], [-1.4176721572875977], [0.40867435932159424], [-0.5709927678108215]]]]]
tangents64 = [tuple(t64(v[k]) for k in ['x', 'weight', 'bias']) for v in [{'x': [[[1.2157810926437378], [-0.40524500608444214], [-0.1587526500225067], [-0.29454001784324646], [0.1531919538974762], [1.3379815816879272]], [[0.7069345712661743], [-0.3335950970649719], [-0.10870876908302307], [-1.2821465730667114], [-0.04359891265630722], [0.6704822182655334]]], 'weight': [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 'bias': [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]}, {'x': [[[0.0], [0.0], [0.0], [0.0], [0.0], [0.0]], [[0.0], [0.0], [0.0], [0.0], [0.0], [0.0]]], 'weight': [0.1330527663230896, 0.05950075015425682, -1.0566850900650024, 0.5191757678985596, 1.0472285747528076, 1.026218295097351], 'bias': [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]}, {'x': [[[0.0], [0.0], [0.0], [0.0], [0.0], [0.0]], [[0.0], [0.0], [0.0], [0.0], [0.0], [0.0]]], 'weight': [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 'bias': [0.8321651220321655, 0.6328589916229248, -1.6050677299499512, 0.6305942535400391, -0.09241597354412079, -0.6489385366439819]}, {'x': [[[-1.4473265409469604], [1.8748786449432373], [0.7635601758956909], [-0.6553488969802856], [1.5732778310775757], [-0.2546696960926056]], [[-0.22859416902065277], [1.089106798171997], [-0.42424237728118896], [-0.697053849697113], [-0.46944084763526917], [0.5174444317817688]]], 'weight': [1.7816145420074463, 0.6121199131011963, 0.28403031826019287, 1.2868285179138184, -1.2927600145339966, -1.5417648553848267], 'bias': [0.2037566602230072, -1.8811616897583008, -0.5973864197731018, -0.13189475238323212, 1.6565221548080444, -0.5589727759361267]}]]
primals64 = [x64, w64, b64]
primals = [p.to(dtype) for p in primals64]
g = [c.to(dtype) for c in g64]
tangents = [tuple(v.to(dtype) for v in tangent) for tangent in tangents64]
f = module_call(torch.nn.GroupNorm(num_groups, channels, eps, **like))
reference = lambda x, w, b: textbook_group_norm(x, w, b, eps, num_groups)
got = route_jvp_grad(f, primals, g, tangents)['hvp'][2][0]
want = route_autograd_double_backward(reference, primals64, g64, tangents64)['hvp'][2][0]
diff = (got.double() - want).abs()
i = tuple(int(k) for k in torch.unravel_index(diff.argmax(), diff.shape))
print("nn.GroupNorm via jvp(grad): hvp block x, entry", i)
print("route      ", float(got[i]))
print("reference  ", float(want[i]), "(autograd of the textbook forward, float64)")
allowed = 69207.53194557858  # the error model's bound on the block's error
error = float(torch.linalg.vector_norm(diff / diff.max())) * float(diff.max())
print("error      ", error, "allowed", allowed, "(Euclidean norm over the block)")
sys.exit(1 if not error <= allowed else 0)
