r"""Numbers, vectors and matrices as LaTeX for the report's pages.

Displayed numbers carry :data:`DIGITS` significant digits; the exact float64 values are
always in the JSON next to the page (``data/*.json``), from which a case replays.  Long
vectors and large matrices are elided in the middle (``\cdots``, ``\ddots``) past
:data:`MAX_SHOWN` entries per axis.
"""

from __future__ import annotations

import math
from typing import Sequence

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
    rows = []
    for i in _shown(len(a)):
        cols = _shown(len(a[0]))
        if i is None:
            rows.append(" & ".join(r"\ddots" if j is None else r"\vdots" for j in cols))
        else:
            rows.append(" & ".join(r"\cdots" if j is None else number(a[i][j]) for j in cols))
    return r"\begin{pmatrix}" + r" \\ ".join(rows) + r"\end{pmatrix}"
