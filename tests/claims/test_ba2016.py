"""Ba et al. (2016) / Zhang & Sennrich (2019), Table 1: the search finds the invariance table we
derive (not the published one taken on trust), every refutation re-checks, planted broken
layers are caught, weight normalization is a registered parametrization usable in the landscape
models, and the proof ``invariance`` holds."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from bntheory.claims import get_claim
from bntheory.claims.catalogue import ba2016_invariance as mod
from bntheory.errors import DuplicateLayerError, InvalidArgumentError, UnknownLayerError
from bntheory.landscape.models import build, model_norm_names, weight_layers
from bntheory.nn import Norm
from bntheory.norms import get_parametrization, parametrizations, weightnorm_forward
from bntheory.norms.parametrizations import (
    register_parametrization,
    unregister_parametrization,
    weightnorm_weight,
)

KINDS = tuple(mod.TRANSFORMATIONS)
H, R = "holds", "refuted"

#: The mathematically correct table at eps = 0, in the order of ``KINDS`` (weight-matrix
#: rescaling, weight-matrix recentering, weight-vector rescaling, dataset rescaling, dataset
#: recentering, single-case rescaling).  y = W x; the groups each transformation acts on:
#: W -> cW and x -> cx scale every group; W + 1 delta^T shifts example b by <delta, x_b> in
#: every channel; x + delta shifts channel i by (W delta)_i in every example; one row scales one
#: channel; one case scales one example.
EPS0 = {
    # W + 1 delta^T: the shift <delta, x_b> differs between the examples of a channel group;
    # one case: rescales one entry of every channel group.
    "batchnorm": (H, R, H, H, H, R),
    # W + 1 delta^T turns the rows; the output is linear in the data (x -> cx scales it,
    # x + delta shifts it by g <v, delta>/|v|, one case scales that example's outputs).
    "weightnorm": (H, R, H, R, R, R),
    # one row: rescales one feature of every example's group; x + delta: the shift (W delta)_i
    # differs between the features of an example.
    "layernorm": (H, H, R, H, R, H),
    # as LayerNorm, and no centering: the per-example shift of W + 1 delta^T is not removed.
    "rmsnorm": (H, R, R, H, R, H),
    # LayerNorm's pattern per group of features (2 groups).
    "groupnorm": (H, H, R, H, R, H),
    # groups are an example's channel over positions: W + 1 delta^T shifts position l by
    # <delta, x[b,:,l]> and x + delta (delta of the example's shape) by (W delta[:,l])_i, both
    # varying along the positions.
    "instancenorm": (H, R, H, H, R, H),
}
#: eps > 0: N_eps(cy) = N_{eps/c^2}(y) breaks every rescaling of an activation normalization;
#: shifts of whole groups (BN's dataset recentering, LN/GN's weight recentering) survive;
#: weight normalization has no eps.
EPS_POS = {
    "batchnorm": (R, R, R, R, H, R),
    "weightnorm": EPS0["weightnorm"],
    "layernorm": (R, H, R, R, R, R),
    "rmsnorm": (R,) * 6,
    "groupnorm": (R, H, R, R, R, R),
    "instancenorm": (R,) * 6,
}
CELLS = [(layer, kind) for layer in mod.LAYERS for kind in KINDS]


def _claim(layer, kind):
    return get_claim(f"ba2016.invariance.{layer}.{kind}")


@pytest.mark.parametrize("regime,table", [("eps=0", EPS0), ("eps>0", EPS_POS)])
def test_the_search_finds_the_derived_table(regime, table):
    wrong = []
    for layer, kind in CELLS:
        claim = _claim(layer, kind)
        v = claim.verdict(regime, "quick")
        expected = table[layer][KINDS.index(kind)]
        if v.verdict != expected:
            wrong.append(f"{claim.id}: {v.verdict}")
        elif v.verdict == R:
            assert claim.judge.recheck(v.evidence.counterexample), claim.id
            assert v.evidence.violation > 0
        else:
            assert v.evidence.examples > 0, f"{claim.id}: no applicable case"
    assert not wrong, wrong


def test_claim_descriptions_carry_the_published_table():
    claims = [_claim(layer, kind) for layer, kind in CELLS]
    assert len({c.id for c in claims}) == 36
    for c in claims:
        _, _, layer, kind = c.id.split(".")
        info = c.info
        assert info.paper == "ba2016" and info.grid == ("ba2016-invariance", layer, kind)
        assert info.derivation == "invariance.md" and info.statement and info.reading
        published = mod.PUBLISHED[layer]
        assert info.published == (None if published is None else published[KINDS.index(kind)])
        assert info.published in (None, "invariant", "not invariant")
    assert _claim("rmsnorm", KINDS[0]).info.source.startswith("Zhang & Sennrich")
    assert _claim("groupnorm", KINDS[0]).info.source == "no published entry"
    assert _claim("layernorm", KINDS[1]).info.published == "invariant"
    assert _claim("batchnorm", KINDS[1]).info.published == "not invariant"


def test_a_batchnorm_that_forgets_the_mean_loses_the_recentering_invariance(monkeypatch):
    claim = _claim("batchnorm", "dataset-recentering")
    assert claim.verdict("eps=0", "quick").verdict == H
    original = mod.Problem.normalize

    def uncentered(self, y, t):
        if self.layer != "batchnorm":
            return original(self, y, t)
        ms = (y * y).mean(0, keepdim=True) + self.eps  # no "- mu": a scale, not a variance
        return t["gamma"] * y / torch.sqrt(ms) + t["beta"]

    monkeypatch.setattr(mod.Problem, "normalize", uncentered)
    v = claim.verdict("eps=0", "quick")
    assert v.verdict == R and claim.judge.recheck(v.evidence.counterexample)
    # the rescaling invariance survives the planted bug: the check is not just always failing
    assert _claim("batchnorm", "dataset-rescaling").verdict("eps=0", "quick").verdict == H


def test_a_layernorm_with_a_hidden_constant_loses_its_rescaling_invariances(monkeypatch):
    original = mod.Problem.normalize

    def with_constant(self, y, t):  # a hidden eps = 1e-8 under the regime's eps = 0
        if self.layer != "layernorm":
            return original(self, y, t)
        g, b = t["gamma"], t["beta"]
        c = y - y.mean(1, keepdim=True)
        return g * c / torch.sqrt((c * c).mean(1, keepdim=True) + self.eps + 1e-8) + b

    monkeypatch.setattr(mod.Problem, "normalize", with_constant)
    for kind in ("weight-matrix-rescaling", "single-case-rescaling"):
        assert _claim("layernorm", kind).verdict("eps=0", "quick").verdict == R, kind
    # a shift of whole groups is still removed
    assert _claim("layernorm", "weight-matrix-recentering").verdict("eps=0", "quick").verdict == H


def test_a_weight_norm_by_the_squared_norm_is_not_scale_invariant(monkeypatch):
    def squared(x, v, g):
        return x @ (g[:, None] * v / (v * v).sum(1, keepdim=True)).T

    monkeypatch.setattr(mod, "weightnorm_forward", squared)
    assert _claim("weightnorm", "weight-vector-rescaling").verdict("eps=0", "quick").verdict == R


# ------------------------------------------------------------ the parametrization
def test_weightnorm_is_registered_and_unknown_names_are_explained():
    assert "weightnorm" in parametrizations()
    with pytest.raises(InvalidArgumentError, match="known parametrizations: .*weightnorm"):
        get_parametrization("weightnrom")
    register_parametrization("planted", lambda m, name="weight": m)
    try:
        assert "planted" in parametrizations()
        with pytest.raises(DuplicateLayerError, match="already registered"):
            register_parametrization("planted", lambda m, name="weight": m)
    finally:
        unregister_parametrization("planted")
    with pytest.raises(InvalidArgumentError, match="lower-case"):
        register_parametrization("Bad Name", lambda m: m)


def test_the_functional_weightnorm_is_the_module_one():
    torch.manual_seed(0)
    lin = nn.Linear(4, 3, bias=False).double()
    get_parametrization("weightnorm")(lin)
    plist = lin.parametrizations.weight
    g, v = plist.original0, plist.original1
    assert g.shape == (3, 1)  # one gain per output row (dim=0)
    x = torch.randn(5, 4, dtype=torch.float64)
    torch.testing.assert_close(weightnorm_forward(x, v, g.reshape(-1)), lin(x))
    rows = torch.linalg.vector_norm(weightnorm_weight(v, torch.ones(3, dtype=v.dtype)), dim=1)
    torch.testing.assert_close(rows, torch.ones(3, dtype=torch.float64))
    with pytest.raises(InvalidArgumentError, match="one gain per row"):
        weightnorm_forward(x, v, torch.ones(2, dtype=v.dtype))


@pytest.mark.parametrize(
    "kind,shape,classes", [("mlp", (12,), 3), ("vgg", (1, 8, 8), 4), ("dln", (5,), None)]
)
def test_a_weight_normalized_model(kind, shape, classes):
    from torch.nn.utils import parametrize

    torch.manual_seed(0)
    model = build(kind, "weightnorm", shape, classes, hidden=(6, 5), cfg=(4, "M", 6), depth=3)
    model = model.double()
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert [parametrize.is_parametrized(m, "weight") for m in layers] == [True] * (
        len(layers) - 1
    ) + [False]  # every hidden weight, not the output layer
    assert all(m.name == "none" for m in model.modules() if isinstance(m, Norm))
    params = {id(p) for p in model.parameters()}
    assert all(id(w) in params for _, w in weight_layers(model))
    x = torch.randn(4, *shape, dtype=torch.float64)
    out = model(x)
    assert out.shape[0] == 4 and bool(torch.isfinite(out).all())
    with torch.no_grad():  # V -> cV of a hidden layer: the network's output is unchanged
        layers[0].parametrizations.weight.original1.mul_(7.5)
    torch.testing.assert_close(model(x), out, rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # ... while g is a real scale
        layers[0].parametrizations.weight.original0.mul_(7.5)
    assert not torch.allclose(model(x), out)


def test_model_norm_names_and_existing_norms():
    assert "weightnorm" in model_norm_names() and "batchnorm" in model_norm_names()
    with pytest.raises(UnknownLayerError, match="unknown normalization 'wightnorm'.*weightnorm"):
        build("mlp", "wightnorm", (4,), 2)
    model = build("mlp", "batchnorm", (4,), 2, hidden=(3,))
    assert not any(hasattr(m, "parametrizations") for m in model.modules())
    assert [m.name for m in model.modules() if isinstance(m, Norm)] == ["batchnorm"]


# ------------------------------------------------------------------ the proof
def test_the_invariance_proof_holds():
    from bntheory.symbolic import catalogue

    file = catalogue.proofs_dir() / "p11_invariance.py"
    spec = importlib.util.spec_from_file_location("bntheory_proofs.p11_invariance", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    proof = module.build()
    result = proof.run()
    assert proof.id == "invariance" and result.ok, result.failed_steps
    # the proof's derived table is the one the search finds
    for regime, table in (("eps=0", EPS0), ("eps>0", EPS_POS)):
        for layer, cells in module.DERIVED[regime].items():
            assert tuple(H if c == "invariant" else R for c in cells) == table[layer]


@pytest.mark.parametrize(
    "layer", ["batchnorm", "layernorm", "rmsnorm", "groupnorm", "instancenorm"]
)
def test_the_proofs_group_forms_are_the_registered_layers(layer):
    """The invariance proof writes each group's forward out (no torch); it must be the
    registered layer's own symbolic form."""
    import importlib.util

    import sympy

    from bntheory.norms import get_layer
    from bntheory.symbolic.catalogue import proofs_dir

    spec = importlib.util.spec_from_file_location("p11", proofs_dir() / "p11_invariance.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    y = sympy.symbols("y_1:5", real=True)
    g, b, e = sympy.symbols("g b e", positive=True)
    params = {"gamma": g, "beta": b, "eps": e}
    ours = mod.group_forward(layer, y, e, g, 0 if layer == "rmsnorm" else b)
    theirs = get_layer(layer).symbolic(list(y), params)
    assert all(sympy.simplify(a - t) == 0 for a, t in zip(ours, theirs, strict=True))
