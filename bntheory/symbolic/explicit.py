r"""Explicit-``m`` derivatives of a registered layer's symbolic forward.

For one normalization group of ``m`` values the layer's ``symbolic`` forward gives
:math:`z_i(y_0,\dots,y_{m-1};\gamma,\beta,\varepsilon)`; here SymPy differentiates it:

* :func:`jacobian` -- the ``m x m`` Matrix :math:`\partial z_i/\partial y_k`;
* :func:`hessian` -- the rank-3 Array :math:`\partial^2 z_i/\partial y_k\partial y_l`.

Symbols are named exactly ``y0 ... y{m-1}``, ``gamma``, ``beta``, ``eps`` (``eps`` may be a
number instead).  This module does not import torch; the registry is imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import sympy

from bntheory.errors import InvalidArgumentError


def lambdify_mpmath(args, expr, modules: Sequence = (), **kwargs):
    """``sympy.lambdify(args, expr, [*modules, "mpmath"], **kwargs)`` with the terms of each
    sum and product printed in SymPy's stored order instead of its canonical sort order.

    The function is the same; only the printing is cheaper, which for the derivatives of the
    lp layers is most of the time of lambdify (ordering the terms of sums thousands of
    operations long).  ``modules`` are dicts of extra functions, as for lambdify."""
    from sympy.printing.pycode import MpmathPrinter

    user = {k: k for m in modules if isinstance(m, dict) for k in m}
    printer = MpmathPrinter(
        {
            "order": "none",
            "fully_qualified_modules": False,
            "inline": True,
            "allow_unknown_functions": True,
            "user_functions": user,
        }
    )
    return sympy.lambdify(args, expr, [*modules, "mpmath"], printer=printer, **kwargs)


class SymbolicUnavailableError(InvalidArgumentError):
    """The layer has no symbolic forward."""


@dataclass(frozen=True)
class GroupSymbols:
    """The symbols of one group: ``y`` (list), ``gamma``, ``beta``, ``eps`` (symbol or number)."""

    y: tuple[sympy.Symbol, ...]
    gamma: sympy.Symbol
    beta: sympy.Symbol
    eps: sympy.Expr

    @property
    def params(self) -> dict[str, sympy.Expr]:
        """The layer parameters ``{"gamma": gamma, "beta": beta, "eps": eps}`` of ``symbolic``."""
        return {"gamma": self.gamma, "beta": self.beta, "eps": self.eps}


def group_symbols(m: int, eps: Real | sympy.Expr | str = 0) -> GroupSymbols:
    """Symbols ``y0..y{m-1}`` (real), ``gamma`` (real), ``beta`` (real) and ``eps``.

    ``eps`` is a number ``>= 0`` (kept exact: ``0.5`` becomes ``1/2``), or the string
    ``"eps"`` / a SymPy symbol for a symbolic, positive ``eps``.
    """
    if isinstance(m, bool) or not isinstance(m, int) or m < 2:
        raise InvalidArgumentError(
            f"m must be an integer >= 2 (a group of one value has no variance), got m={m!r}"
        )
    if isinstance(eps, str):
        if eps != "eps":
            raise InvalidArgumentError(
                f"eps must be a number >= 0 or the string 'eps', got eps={eps!r}"
            )
        eps_expr: sympy.Expr = sympy.Symbol("eps", positive=True)
    elif isinstance(eps, sympy.Basic):
        eps_expr = eps
    else:
        eps_expr = sympy.nsimplify(eps, rational=True)
        if not eps_expr.is_number or eps_expr.is_negative:
            raise InvalidArgumentError(f"eps must be a number >= 0, got eps={eps!r}")
    y = tuple(sympy.symbols(f"y0:{m}", real=True))
    return GroupSymbols(
        y=y,
        gamma=sympy.Symbol("gamma", real=True),
        beta=sympy.Symbol("beta", real=True),
        eps=eps_expr,
    )


def forward(
    name: str, m: int, eps: Real | sympy.Expr | str = 0
) -> tuple[list[sympy.Expr], GroupSymbols]:
    """The layer's symbolic forward on one group of ``m`` symbols, and the symbols."""
    from bntheory.norms.registry import get_layer  # lazy: this module stays torch-free at import

    layer = get_layer(name)
    if not layer.has_symbolic():
        raise SymbolicUnavailableError(
            f"layer {name!r} has no symbolic forward, so it cannot be differentiated symbolically; "
            "implement Normalization.symbolic(y, params)"
        )
    sym = group_symbols(m, eps)
    return list(layer.symbolic(list(sym.y), sym.params)), sym


def jacobian(name: str, m: int, eps: Real | sympy.Expr | str = 0) -> sympy.Matrix:
    r"""The ``m x m`` SymPy Matrix :math:`J_{ik} = \partial z_i/\partial y_k`."""
    return jacobian_of(*forward(name, m, eps))


def jacobian_of(z: Sequence[sympy.Expr], sym: GroupSymbols) -> sympy.Matrix:
    """:func:`jacobian` of a forward ``z`` already built on the symbols ``sym``."""
    return sympy.Matrix(z).jacobian(sympy.Matrix(sym.y))


def hessian(name: str, m: int, eps: Real | sympy.Expr | str = 0) -> sympy.Array:
    r"""The rank-3 SymPy Array :math:`T_{ikl} = \partial^2 z_i/\partial y_k\partial y_l`."""
    return hessian_of(*forward(name, m, eps))


def hessian_of(z: Sequence[sympy.Expr], sym: GroupSymbols) -> sympy.Array:
    """:func:`hessian` of a forward ``z`` already built on the symbols ``sym``."""
    m = len(sym.y)
    first = [[sympy.diff(zi, yk) for yk in sym.y] for zi in z]
    out = [[[None] * m for _ in range(m)] for _ in range(m)]
    for i in range(m):
        for k in range(m):
            for j in range(k, m):  # symmetric in k, j: differentiate once
                out[i][k][j] = out[i][j][k] = sympy.diff(first[i][k], sym.y[j])
    return sympy.Array(out)
