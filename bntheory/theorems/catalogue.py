r"""The statement catalogue: every published form of Theorems 1 and 2, as data.

Each :class:`Statement` has an id, its source, its LaTeX as printed, its two sides as
functions of :class:`~bntheory.theorems.case.Quantities`, the relation, and its stated
assumptions as predicates.  Nothing here says whether a statement is true: verdicts are
discovered by the judges of :mod:`bntheory.claims`.

Notation: :math:`\langle\mathbf 1, g\rangle = \sum g_i`,
:math:`\mu(g) = \langle\mathbf 1,g\rangle/m`, :math:`\rho = \mathrm{var}/\sigma^2`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from bntheory.cases.settings import REGIMES
from bntheory.errors import InvalidArgumentError
from bntheory.theorems.case import Quantities

Side = Callable[[Quantities], list[float]]  # the terms whose sum is the side
Predicate = Callable[[Quantities], bool]
__all__ = ["REGIMES", "STATEMENTS", "Assumption", "Statement", "get_statement", "needs_psd"]


@dataclass(frozen=True)
class Assumption:
    """An assumption of a statement: its text and the predicate that checks it."""

    text: str
    holds: Predicate
    #: A continuous version for the worst-case search: ``>= 0`` exactly where ``holds`` is
    #: true, scale-free (``None``: the search builds it into its parametrisation instead).
    margin: Callable[[Quantities], torch.Tensor] | None = None
    #: Costly to decide (a factorization per case): a batch evaluates it last, and only on
    #: the cases the other assumptions leave applicable.
    expensive: bool = False


@dataclass(frozen=True)
class Statement:
    """A statement of the catalogue: its source, assumptions and sides."""

    id: str
    theorem: int
    source: str
    latex: str
    lhs: Side
    rhs: Side
    relation: str = "<="  # or "="
    assumptions: tuple[Assumption, ...] = field(default_factory=tuple)
    reading: str = ""  # how an ambiguous phrase was made precise

    def a_priori(self, q: Quantities):
        """The size of the left side that rounding is measured against: ``|ghat|^2`` (times
        ``||Hhat||`` for Theorem 2, times ``lam^2`` for Theorem 4.4, whose sides are
        ``lam^2 |ghat|^2`` and the like)."""
        return q.ghat_bound**2 * {1: 1.0, 2: q.hhat_bound, 4: q.case.lam**2}[self.theorem]

    @property
    def with_lam(self) -> bool:
        """Whether the statement's cases carry Theorem 4.4's input bound ``lam``."""
        return self.theorem == 4


# ------------------------------------------------------------------ pieces
# Every side works on one case (vectors of shape (m,)) and on a batch of cases (shape
# (K, m), gamma and sigma of shape (K,)): the vectorised sweep uses the same formulas.
def _s(q: Quantities):
    return q.case.gamma**2 / q.sigma**2


def _sq(t: torch.Tensor) -> torch.Tensor:
    return (t * t).sum(-1)


def _one_g(q: Quantities) -> torch.Tensor:
    return q.g.sum(-1)


def _g_yhat(q: Quantities) -> torch.Tensor:
    return (q.g * q.yhat).sum(-1)


def _ghat_sq(q: Quantities) -> list[float]:
    return [_sq(q.ghat)]


def _thm1_rhs(
    mean_term: Callable[[Quantities], float], yhat_coeff: Callable[[Quantities], float]
) -> Side:
    def rhs(q: Quantities) -> list[float]:
        s = _s(q)
        return [s * _sq(q.g), -s * mean_term(q), -s * yhat_coeff(q) * _g_yhat(q) ** 2]

    return rhs


def _thm2_lhs(q: Quantities) -> list[float]:
    return [q.ghat_Hhat_ghat]


def _thm2_curv(q: Quantities) -> float:
    """:math:`\\frac{\\gamma}{m\\sigma^2}\\langle g,\\hat y\\rangle\\|\\hat g\\|^2`."""
    return q.case.gamma / (q.m * q.sigma**2) * _g_yhat(q) * _sq(q.ghat)


#: ``H`` counts as positive semi-definite when its smallest eigenvalue is at least
#: ``-PSD_TOLERANCE * max(1, max|H_ij|)``: the rounding of an ``H`` built as ``U U^T`` in float64
#: is far below it (about ``m u max|H_ij|``), a genuinely indefinite ``H`` far above it.
PSD_TOLERANCE = 1e-12


def h_is_psd(q: Quantities) -> torch.Tensor:
    """``lambda_min(H) >= -tol``, decided by a Cholesky factorization of ``H + tol I`` (it exists
    iff that matrix is positive definite): a few times cheaper than the eigenvalues, batched."""
    h = q.case.H
    size = torch.maximum(h.amax(dim=(-2, -1)), -h.amin(dim=(-2, -1))).clamp(min=1.0)  # max |H_ij|
    shifted = h.clone()
    shifted.diagonal(dim1=-2, dim2=-1).add_((PSD_TOLERANCE * size).unsqueeze(-1))
    return torch.linalg.cholesky_ex(shifted).info == 0


def _rayleigh_margin(q: Quantities) -> torch.Tensor:
    """``(g^T H g |ghat|^2 - ghat^T H ghat |g|^2) / (|H|_F |g|^2 |ghat|^2)``."""
    n_g, n_gh = _sq(q.g), _sq(q.ghat)
    h = torch.linalg.matrix_norm(q.case.H)
    return (q.g_H_g * n_gh - q.ghat_H_ghat * n_g) / (h * n_g * n_gh).clamp_min(1e-300)


def _g_yhat_margin(q: Quantities) -> torch.Tensor:
    return _g_yhat(q) / (torch.sqrt(_sq(q.g) * _sq(q.yhat))).clamp_min(1e-300)


def _rayleigh_not_larger(q: Quantities) -> torch.Tensor:
    n_g, n_gh = _sq(q.g), _sq(q.ghat)
    degenerate = (n_g == 0) | (n_gh == 0)
    return degenerate | (q.ghat_H_ghat * n_g <= q.g_H_g * n_gh)


def _thm44_rhs(reading: str) -> Side:
    r"""Theorem 4.4's right side with the inner maximisations solved in closed form:
    :math:`g_j = \max_{\|X\|\le\lambda}\|X^\top g\|^2 = \lambda^2\|g\|^2` (attained by
    :math:`X = \lambda\,g v^\top/\|g\|`, any unit :math:`v`; spectral or Frobenius norm alike)."""

    def rhs(q: Quantities) -> list:
        s, lam2 = _s(q), q.case.lam**2
        g_j, mean_sq = lam2 * _sq(q.g), q.m * (_one_g(q) / q.m) ** 2
        if reading == "printed":  # g_j^2 - m mu^2 - lam^2 <g, yhat>^2, as printed
            return [s * g_j**2, -s * mean_sq, -s * lam2 * _g_yhat(q) ** 2]
        if reading == "consistent":  # every term a squared gradient times lam^2
            return [s * g_j, -s * lam2 * mean_sq, -s * lam2 * _g_yhat(q) ** 2]
        # derived: lam^2 times Theorem 1 as transcribed (which the suite finds to hold)
        return [s * g_j, -s * lam2 * mean_sq, -s * lam2 * _g_yhat(q) ** 2 / q.m]

    return rhs


def _thm44_lhs(q: Quantities) -> list:
    r""":math:`\hat g_j = \max_{\|X\|\le\lambda}\|X^\top\hat g\|^2 = \lambda^2\|\hat g\|^2`."""
    return [q.case.lam**2 * _sq(q.ghat)]


_THM44_READING = (
    r"Weight-space gradients $\nabla_{w_j}\mathcal L = X^\top\nabla_{y_j}\mathcal L$ over input "
    r"batches "
    r"$\|X\|\le\lambda$ with the activation gradients $g = \nabla_{y_j}\mathcal L$ and "
    r"$\hat g = \nabla_{y_j}\hat{\mathcal L}$ held fixed (the worst case over the chain-rule "
    r"factor), so "
    r"$g_j = \lambda^2\|g\|^2$ and $\hat g_j = \lambda^2\|\hat g\|^2$ exactly; "
    r"$\mu_{g_j} = \tfrac1m\langle\mathbf 1, g\rangle$."
)


STATEMENTS: tuple[Statement, ...] = (
    Statement(
        "thm1.seed",
        1,
        "seed 000 (the authors' blog post)",
        r"\|\hat g\|^2 \le \frac{\gamma^2}{\sigma^2}\Big(\|g\|^2 - \mu(g)^2 - \frac{1}{\sqrt "
        r"m}\langle g,\hat y\rangle^2\Big)",
        _ghat_sq,
        _thm1_rhs(lambda q: (_one_g(q) / q.m) ** 2, lambda q: 1 / math.sqrt(q.m)),
    ),
    Statement(
        "thm1.arxiv",
        1,
        "arXiv 1805.11604, Theorem 4.1",
        r"\|\hat g\|^2 \le \frac{\gamma^2}{\sigma^2}\Big(\|g\|^2 - \frac1m\langle\mathbf "
        r"1,g\rangle^2 - \frac{1}{\sqrt m}\langle g,\hat y\rangle^2\Big)",
        _ghat_sq,
        _thm1_rhs(lambda q: _one_g(q) ** 2 / q.m, lambda q: 1 / math.sqrt(q.m)),
    ),
    Statement(
        "thm1.transcribed",
        1,
        "transcriptions of Theorem 4.1",
        r"\|\hat g\|^2 \le \frac{\gamma^2}{\sigma^2}\Big(\|g\|^2 - \frac1m\langle\mathbf "
        r"1,g\rangle^2 - \frac1m\langle g,\hat y\rangle^2\Big)",
        _ghat_sq,
        _thm1_rhs(lambda q: _one_g(q) ** 2 / q.m, lambda q: 1 / q.m),
    ),
    Statement(
        "thm1.exact",
        1,
        "proofs/p3_theorem1.py",
        r"\|\hat g\|^2 = \frac{\gamma^2}{\sigma^2}\Big(\|g\|^2 - \frac1m\langle\mathbf "
        r"1,g\rangle^2 - \frac{2-\rho}{m}\langle g,\hat y\rangle^2\Big)",
        _ghat_sq,
        _thm1_rhs(lambda q: _one_g(q) ** 2 / q.m, lambda q: (2 - q.var / q.sigma**2) / q.m),
        relation="=",
    ),
    Statement(
        "thm2.seed",
        2,
        "seed 000 (the authors' blog post)",
        r"\hat g^\top\hat H\hat g \le \frac{\gamma^2}{\sigma^2}\Big(g^\top H g - "
        r"\frac{1}{m\gamma}\langle g,\hat y\rangle\|\hat g\|^2\Big)",
        _thm2_lhs,
        lambda q: [_s(q) * q.g_H_g, -_s(q) * _g_yhat(q) * _sq(q.ghat) / (q.m * q.case.gamma)],
    ),
    Statement(
        "thm2.paper",
        2,
        "arXiv 1805.11604, Theorem 4.2 (first form)",
        r"\hat g^\top\hat H\hat g \le \frac{\gamma^2}{\sigma^2}\hat g^\top H\hat g - "
        r"\frac{\gamma}{m\sigma^2}\langle g,\hat y\rangle\|\hat g\|^2",
        _thm2_lhs,
        lambda q: [_s(q) * q.ghat_H_ghat, -_thm2_curv(q)],
    ),
    Statement(
        "thm2.paper-relnorm",
        2,
        "arXiv 1805.11604, Theorem 4.2 (second form)",
        r"\hat g^\top\hat H\hat g \le \frac{\gamma^2}{\sigma^2}\Big(g^\top H g - "
        r"\frac{1}{m\gamma}\langle g,\hat y\rangle\|\hat g\|^2\Big)",
        _thm2_lhs,
        lambda q: [_s(q) * q.g_H_g, -_s(q) * _g_yhat(q) * _sq(q.ghat) / (q.m * q.case.gamma)],
        assumptions=(
            Assumption(r"$H$ positive semi-definite", h_is_psd, expensive=True),
            Assumption(
                r"$\langle g,\hat y\rangle \ge 0$", lambda q: _g_yhat(q) >= 0, margin=_g_yhat_margin
            ),
            Assumption(
                r"$H$ preserves the relative norms of $g$ and $\hat g$: "
                r"$\hat g^\top H\hat g/\|\hat g\|^2 \le g^\top H g/\|g\|^2$",
                _rayleigh_not_larger,
                margin=_rayleigh_margin,
            ),
        ),
        reading=r"“H preserves the relative norms of g and ĝ” read as: "
        r"the Rayleigh quotient of H at ĝ "
        r"is at most the one at g (H stretches ĝ, relative to its length, no more than g).",
    ),
    Statement(
        "thm2.exact",
        2,
        "proofs/p4_theorem2.py",
        r"\hat g^\top\hat H\hat g = (J\hat g)^\top H (J\hat g) + \sum_{ikl} g_i\,\partial^2_{kl} "
        r"z_i\,\hat g_k\hat g_l",
        _thm2_lhs,
        lambda q: _thm2_exact_rhs(q),
        relation="=",
    ),
    Statement(
        "thm4.4.printed",
        4,
        "arXiv 1805.11604, Theorem 4.4",
        r"\hat g_j \le \frac{\gamma^2}{\sigma_j^2}\Big(g_j^2 - m\mu_{g_j}^2 - "
        r"\lambda^2\langle\nabla_{y_j}\mathcal L,\hat y_j\rangle^2\Big)",
        _thm44_lhs,
        lambda q: _thm44_rhs("printed")(q),
        reading=_THM44_READING,
    ),
    Statement(
        "thm4.4.consistent",
        4,
        "Theorem 4.4, dimensionally consistent reading",
        r"\hat g_j \le \frac{\gamma^2}{\sigma_j^2}\Big(g_j - \lambda^2 m\mu_{g_j}^2 - "
        r"\lambda^2\langle\nabla_{y_j}\mathcal L,\hat y_j\rangle^2\Big)",
        _thm44_lhs,
        lambda q: _thm44_rhs("consistent")(q),
        reading=_THM44_READING
        + r" Every term made a squared gradient times $\lambda^2$: $g_j$ not squared again, "
        r"$\lambda^2$ on the mean term.",
    ),
    Statement(
        "thm4.4.derived",
        4,
        "Theorem 4.4 derived from Theorem 1 (transcribed form)",
        r"\hat g_j \le \frac{\gamma^2}{\sigma_j^2}\Big(g_j - \lambda^2 m\mu_{g_j}^2 - "
        r"\frac{\lambda^2}{m}\langle\nabla_{y_j}\mathcal L,\hat y_j\rangle^2\Big)",
        _thm44_lhs,
        lambda q: _thm44_rhs("derived")(q),
        reading=_THM44_READING + r" $\lambda^2$ times Theorem 1 in its transcribed form.",
    ),
)


def _thm2_exact_rhs(q: Quantities) -> list[torch.Tensor]:
    """Both terms by the layer's closed forms (independent of the autograd left side)."""
    from bntheory.cases.theorem import as_channels, bn_args, from_channels

    c = q.case
    x, args = as_channels(c.y), bn_args(c)
    j_gh = from_channels(_bn().jvp(x, as_channels(q.ghat), *args), c.y)
    curv = from_channels(_bn().hvp(x, as_channels(c.g), as_channels(q.ghat), *args), c.y)
    return [(j_gh * (c.H @ j_gh.unsqueeze(-1)).squeeze(-1)).sum(-1), (curv * q.ghat).sum(-1)]


def _bn():
    from bntheory.norms import get_layer

    return get_layer("batchnorm")


def needs_psd(statement: Statement) -> bool:
    """Whether ``statement`` assumes ``H`` positive semi-definite."""
    return any(a.holds is h_is_psd for a in statement.assumptions)


def get_statement(sid: str) -> Statement:
    """The statement with id ``sid``."""
    for s in STATEMENTS:
        if s.id == sid:
            return s
    raise InvalidArgumentError(
        f"unknown statement {sid!r}; known: {', '.join(s.id for s in STATEMENTS)}"
    )
