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
    with pytest.raises(
        LayerCheckError,
        match=r"'test-wrong-symbolic' fails the symbolic check: forward differs "
        r"from SymPy's exact value .* at m=2",
    ):
        battery("test-wrong-symbolic")


def test_a_wrong_closed_form_fails(registered):
    registered(WrongVjp)
    with pytest.raises(
        LayerCheckError, match="'test-wrong-vjp' fails the symbolic check: vjp differs"
    ):
        battery("test-wrong-vjp")
    with pytest.raises(
        LayerCheckError,
        match=r"fails the closed-form check: vjp \(closed form\) disagrees with "
        r"torch.autograd in \d+ of \d+ cases; first: gaussian",
    ):
        battery("test-wrong-vjp", sizes=())  # without the symbolic checks, autograd catches it


def test_unknown_layer():
    with pytest.raises(
        UnknownLayerError, match="unknown layer 'batchnrom'.*did you mean 'batchnorm'"
    ):
        battery("batchnrom")


def test_check_cli(registered, capsys):
    registered(WrongSymbolic)
    assert main(["check", "rmsnorm", "test-wrong-symbolic"]) == 1
    out = capsys.readouterr().out
    assert (
        "rmsnorm: every check passed" in out
        and "FAILED: layer 'test-wrong-symbolic' fails the symbolic" in out
    )


def test_the_pytest_fixture(registered, check_layer):
    """The plugin's fixture (the same one a user's test file gets) runs the battery."""
    registered(MeanCenter)
    assert check_layer("test-meancenter").symmetry_cases == 3
    registered(WrongVjp)
    with pytest.raises(LayerCheckError):
        check_layer("test-wrong-vjp")


def test_active_piece_picks_the_branch_and_refuses_non_differentiable_points():
    from bntheory.verify.symbolic_check import NotDifferentiableHere, active_piece

    a, b = sympy.symbols("a b", real=True)
    at = {a: sympy.Rational(3, 2), b: sympy.Rational(-5, 2)}
    assert active_piece(sympy.Max(sympy.Abs(a), sympy.Abs(b)), at) == -b
    assert active_piece(sympy.Min(sympy.Abs(a), sympy.Abs(b)) + sympy.Abs(a - b), at) == a + (a - b)
    # |a| and |-a| tie everywhere: one function, no kink
    assert active_piece(sympy.Max(sympy.Abs(a - b), sympy.Abs(b - a)), at) in (a - b, -(b - a))
    with pytest.raises(NotDifferentiableHere, match="Abs"):
        active_piece(sympy.Abs(a + b + 1), at)
    with pytest.raises(NotDifferentiableHere, match="tie"):
        active_piece(sympy.Max(a, b + 4), at)


@pytest.mark.parametrize("name", ["l1batchnorm", "linfbatchnorm"])
def test_the_active_piece_has_the_derivatives_of_the_whole_forward(name):
    """At a point where every choice is strict, the piece's Jacobian and second derivative are
    those SymPy gives for the whole forward (Heaviside/DiracDelta evaluated off their kinks)."""
    import mpmath

    from bntheory.symbolic import explicit
    from bntheory.verify.symbolic_check import FUNCTIONS, active_piece

    layer, m = bntheory.get_layer(name), 3
    sym = explicit.group_symbols(m, sympy.Rational(1, 10))
    y = [sympy.Rational(7, 3), sympy.Rational(-4), sympy.Rational(1, 2)]
    point = {
        **dict(zip(sym.y, y)),
        sym.gamma: sympy.Rational(3, 2),
        sym.beta: sympy.Rational(-1, 3),
    }
    whole = list(layer.symbolic(list(sym.y), sym.params))
    piece = [active_piece(z, point) for z in whole]
    assert not any(z.has(sympy.Abs, sympy.Max) for z in piece)
    with mpmath.workdps(50):
        values = []
        for z in (whole, piece):
            f = explicit.lambdify_mpmath(
                list(sym.y) + [sym.gamma, sym.beta],
                [z, explicit.jacobian_of(z, sym).tolist(), explicit.hessian_of(z, sym).tolist()],
                [FUNCTIONS],
            )
            values.append(
                mpmath.matrix(sympy.flatten(f(*[mpmath.mpf(q.p) / q.q for q in point.values()])))
            )
        assert mpmath.norm(values[0] - values[1]) < mpmath.mpf(10) ** -45 * mpmath.norm(values[0])
