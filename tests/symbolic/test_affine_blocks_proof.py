"""``proofs/p15_affine_blocks.py``: it holds for the closed forms of ``bntheory.norms.affine``
and fails when one of their terms is dropped."""

from __future__ import annotations

import importlib.util

import pytest

from bntheory.symbolic.catalogue import proofs_dir


@pytest.fixture(scope="module")
def p15():
    """The proof's module, loaded from its file."""
    file = proofs_dir() / "p15_affine_blocks.py"
    spec = importlib.util.spec_from_file_location("bntheory_proofs.p15", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_blocks_hold(p15):
    """Every block equals SymPy's derivative, for both layers and every m."""
    result = p15.build().run()
    assert result.ok, [s.detail for s in result.proof.steps]


@pytest.mark.parametrize("block", ["hvp_x_from_weight", "hvp_weight_from_x", "grad_weight"])
def test_a_dropped_term_fails(p15, block):
    """The closed form without its ``c <w, v>/t`` term (or ``n`` replaced by ``c``) fails."""

    def jn_without_w(v, y, center):
        m = len(y)
        pv = [vi - sum(v) / m for vi in v] if center else list(v)
        c = [yi - sum(y) / m for yi in y] if center else list(y)
        t = p15.sympy.sqrt(sum(ci**2 for ci in c) / m + p15.eps)
        return [pvi / t for pvi in pv]

    def closed(y, n, g, v, u, center):
        out = p15.closed_forms(y, n, g, v, u, center)
        if block == "hvp_x_from_weight":
            out[block] = jn_without_w([ui * gi for ui, gi in zip(u, g)], y, center)
        elif block == "hvp_weight_from_x":
            out[block] = [gi * e for gi, e in zip(g, jn_without_w(v, y, center))]
        else:
            out[block] = [gi * yi for gi, yi in zip(g, y)]
        return out

    result = p15.build(closed).run()
    assert not result.ok and block in result.proof.steps[0].detail
