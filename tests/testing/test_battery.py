"""check_layer fails on a layer that is wrong, and says where; the CLI and the pytest fixture
report it."""

from __future__ import annotations

import pytest
import sympy

import bntheory
from bntheory.cli import main
from bntheory.errors import UnknownLayerError
from bntheory.testing import LayerCheckError
from bntheory.testing import check_layer as battery


class MeanCenter(bntheory.Normalization):
    name = "test-meancenter"
    title = "mean-only centering"

    def forward(self, x):
        return x - x.mean(dim=0, keepdim=True)

    def symbolic(self, y, params):
        mu = sympy.Add(*y) / len(y)
        return [yi - mu for yi in y]


class WrongSymbolic(MeanCenter):
    """The symbolic forward subtracts half the mean: it disagrees with the torch forward."""

    name = "test-wrong-symbolic"

    def symbolic(self, y, params):
        mu = sympy.Add(*y) / len(y)
        return [yi - mu / 2 for yi in y]


class WrongVjp(MeanCenter):
    """A closed-form vjp that forgets to center: J^T g = g instead of P g."""

    name = "test-wrong-vjp"

    def vjp(self, x, g):
        return g


@pytest.fixture
def registered():
    names = []

    def add(cls):
        bntheory.register_layer(cls, replace=True)
        names.append(cls.name)

    yield add
    for n in names:
        bntheory.unregister_layer(n)


def test_a_correct_layer_with_only_forward_and_symbolic_passes(registered):
    registered(MeanCenter)
    result = battery("test-meancenter")
    assert result.provides["vjp"] == "autograd" and result.symbolic_comparisons == 12
    assert "vjp is computed by autograd (no closed form)" in result.summary()


def test_a_symbolic_forward_that_disagrees_with_torch_fails(registered):
    registered(WrongSymbolic)
    with pytest.raises(LayerCheckError, match=r"'test-wrong-symbolic' fails the symbolic check: forward differs "
                                              r"from SymPy's exact value .* at m=2"):
        battery("test-wrong-symbolic")


def test_a_wrong_closed_form_fails(registered):
    registered(WrongVjp)
    with pytest.raises(LayerCheckError, match="'test-wrong-vjp' fails the symbolic check: vjp differs"):
        battery("test-wrong-vjp")
    with pytest.raises(LayerCheckError, match=r"fails the closed-form check: vjp \(closed form\) disagrees with "
                                              r"torch.autograd in \d+ of \d+ cases; first: gaussian"):
        battery("test-wrong-vjp", sizes=())  # without the symbolic checks, autograd catches it


def test_unknown_layer():
    with pytest.raises(UnknownLayerError, match="unknown layer 'batchnrom'.*did you mean 'batchnorm'"):
        battery("batchnrom")


def test_check_cli(registered, capsys):
    registered(WrongSymbolic)
    assert main(["check", "rmsnorm", "test-wrong-symbolic"]) == 1
    out = capsys.readouterr().out
    assert "rmsnorm: every check passed" in out and "FAILED: layer 'test-wrong-symbolic' fails the symbolic" in out


def test_the_pytest_fixture(registered, check_layer):
    """The plugin's fixture (the same one a user's test file gets) runs the battery."""
    registered(MeanCenter)
    assert check_layer("test-meancenter").symmetry_cases == 3
    registered(WrongVjp)
    with pytest.raises(LayerCheckError):
        check_layer("test-wrong-vjp")
