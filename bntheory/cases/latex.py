r"""Numbers, vectors and matrices as LaTeX for the report's pages.

Displayed numbers carry :data:`DIGITS` significant digits; the exact float64 values are
always in the JSON next to the page (``data/*.json``), from which a case replays.  Long
vectors and large matrices are elided in the middle (``\cdots``, ``\ddots``) past
:data:`MAX_SHOWN` entries per axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DIGITS = 6
MAX_SHOWN = 8


def number(x: float, digits: int = DIGITS) -> str:
    """``1.5e-101`` as ``1.5\\times10^{-101}``; ``inf``/``nan`` as ``\\infty``/``\\mathrm{NaN}``."""
    x = float(x)
    if math.isnan(x):
        return r"\mathrm{NaN}"
    if math.isinf(x):
        return r"\infty" if x > 0 else r"-\infty"
    text = f"{x:.{digits}g}"
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant}\times10^{{{int(exp)}}}"
    return text


def _shown(n: int) -> list[int | None]:
    """Indices to show along an axis of length ``n``; ``None`` marks the elision."""
    if n <= MAX_SHOWN:
        return list(range(n))
    head = MAX_SHOWN - 2
    return list(range(head)) + [None] + [n - 1]


def vector(v: Sequence[float], transpose: bool = True) -> str:
    r"""A row ``\begin{pmatrix}…\end{pmatrix}^\top`` (a column vector written flat)."""
    cells = [r"\cdots" if i is None else number(v[i]) for i in _shown(len(v))]
    body = r"\begin{pmatrix}" + " & ".join(cells) + r"\end{pmatrix}"
    return body + (r"^{\top}" if transpose else "")


def matrix(a: Sequence[Sequence[float]]) -> str:
    """A matrix as a LaTeX ``pmatrix``, eliding rows and columns beyond the shown ones."""
    rows = []
    for i in _shown(len(a)):
        cols = _shown(len(a[0]))
        if i is None:
            rows.append(" & ".join(r"\ddots" if j is None else r"\vdots" for j in cols))
        else:
            rows.append(" & ".join(r"\cdots" if j is None else number(a[i][j]) for j in cols))
    return r"\begin{pmatrix}" + r" \\ ".join(rows) + r"\end{pmatrix}"


def rational(x: str) -> str:
    """An exact rational written as SymPy prints it (``-7/23``) as ``-\\tfrac{7}{23}``."""
    if "/" in x:
        num, den = x.split("/")
        sign = "-" if num.startswith("-") else ""
        return rf"{sign}\tfrac{{{num.lstrip('-')}}}{{{den}}}"
    return x


def rational_vector(xs: Sequence[str]) -> str:
    """Exact rationals as a LaTeX column vector (a transposed row)."""
    return r"\begin{pmatrix}" + " & ".join(rational(x) for x in xs) + r"\end{pmatrix}^{\top}"


def rational_matrix(rows: Sequence[Sequence[str]]) -> str:
    """Rows of exact rationals as a LaTeX ``pmatrix``."""
    return (
        r"\begin{pmatrix}"
        + r" \\ ".join(" & ".join(rational(x) for x in r) for r in rows)
        + r"\end{pmatrix}"
    )


def counterexample_formulas(ce: dict, sides: dict | None) -> list[str]:
    """A case of the catalogue (``m, y, gamma, beta, eps, g, H``) as display formulas, and both
    sides with the rounding the error model allows, when ``sides`` is given."""
    out = [
        rf"m = {ce['m']},\quad \gamma = {number(ce['gamma'])},\quad "
        rf"\beta = {number(ce['beta'])},\quad \varepsilon = {number(ce['eps'])}",
        "y = " + vector(ce["y"]),
        "g = " + vector(ce["g"]),
        "H = " + matrix(ce["H"]),
    ]
    if sides:
        out.append(
            rf"\text{{lhs}} = {number(sides['lhs'], 10)},\qquad \text{{rhs}} = "
            rf"{number(sides['rhs'], 10)},"
            rf"\qquad \text{{rounding allows}}\ {number(sides['tolerance'], 3)}"
        )
    return out
