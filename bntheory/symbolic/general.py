r"""BatchNorm's derivatives for every batch size ``m``, derived without ``Sum``/``KroneckerDelta``.

SymPy's ``Sum`` with ``KroneckerDelta`` has open wrong-result bugs, so the general-``m``
results are derived with two small, exact devices instead:

1. **Index calculus.**  A per-element expression of BatchNorm depends on the batch only
   through its own value :math:`y_i` and the statistics :math:`\mu, \mathrm{var}`.  The
   total derivative along :math:`y_j` is then the chain rule with known partials

   .. math:: D_j y_a = \delta_{aj},\qquad D_j\mu = \tfrac1m,\qquad
             D_j\mathrm{var} = \tfrac2m (y_j-\mu),

   where the Kronecker deltas are plain symbols ``delta_ik`` etc.  This is exact for every
   ``m``; the two statistics' partials are lemmas checked in ``proofs/``.
2. **Batch-vector algebra.**  Vectors are linear combinations of named batch vectors
   (:math:`\mathbf 1, \hat y, g`) whose inner products are known symbols
   (:math:`\langle\mathbf 1,\mathbf 1\rangle = m`, :math:`\langle\mathbf 1,\hat y\rangle = 0`,
   :math:`\langle\hat y,\hat y\rangle = m\rho` with
   :math:`\rho = \mathrm{var}/(\mathrm{var}+\varepsilon)`).
   An index expression such as :math:`J_{ik}` is contracted with vectors by reading each
   monomial :math:`\delta_{ik}`, :math:`\hat y_i\hat y_k`, ... as an operator.

No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import sympy

# ------------------------------------------------------------------- symbols
m = sympy.Symbol("m", positive=True, integer=True)
gamma = sympy.Symbol("gamma", real=True)
beta = sympy.Symbol("beta", real=True)
eps = sympy.Symbol("varepsilon", nonnegative=True)
mu = sympy.Symbol("mu", real=True)
var = sympy.Symbol(r"\mathrm{var}", positive=True)
sigma = sympy.Symbol("sigma", positive=True)
rho = sympy.Symbol("rho", positive=True)  # var / (var + eps) = ||yhat||^2 / m
INDICES = ("i", "k", "l")
y = {a: sympy.Symbol(f"y_{a}", real=True) for a in INDICES}
yhat = {a: sympy.Symbol(rf"\hat{{y}}_{a}", real=True) for a in INDICES}
delta = {frozenset(p): sympy.Symbol(rf"\delta_{{{p[0]}{p[1]}}}") for p in combinations(INDICES, 2)}


def d(a: str, b: str) -> sympy.Expr:
    """Kronecker delta of two index names (1 on the diagonal)."""
    return sympy.Integer(1) if a == b else delta[frozenset((a, b))]


def sigma_of_var() -> sympy.Expr:
    r""":math:`\sigma = \sqrt{\mathrm{var}+\varepsilon}` in the symbols ``var`` and ``eps``."""
    return sympy.sqrt(var + eps)


def forward_indexed(a: str = "i") -> sympy.Expr:
    r""":math:`z_a = \gamma (y_a-\mu)/\sqrt{\mathrm{var}+\varepsilon} + \beta`."""
    return gamma * (y[a] - mu) / sigma_of_var() + beta


def total_derivative(expr: sympy.Expr, j: str) -> sympy.Expr:
    r""":math:`D_j` of an expression in :math:`y_a`, :math:`\mu`, :math:`\mathrm{var}`.

    The chain rule with :math:`D_j y_a = \delta_{aj}`, :math:`D_j\mu = \tfrac1m` and
    :math:`D_j\mathrm{var} = \tfrac2m (y_j-\mu)`.
    """
    out = sympy.diff(expr, mu) / m + sympy.diff(expr, var) * 2 * (y[j] - mu) / m
    for a in INDICES:
        if expr.has(y[a]):
            out += sympy.diff(expr, y[a]) * d(a, j)
    return out


def to_yhat(expr: sympy.Expr) -> sympy.Expr:
    """Rewrite in :math:`\\hat y_a = (y_a-\\mu)/\\sigma` and :math:`\\sigma`."""
    sub = {y[a]: mu + sigma * yhat[a] for a in INDICES}
    expr = expr.subs(sub).subs(sympy.sqrt(var + eps), sigma)
    return sympy.simplify(expr.subs(var, sigma**2 - eps))


def jacobian_closed_form() -> sympy.Expr:
    r"""BatchNorm's Jacobian :math:`J_{ik} = \partial z_i/\partial y_k` for every ``m``.

    .. math:: J_{ik} = \frac{\gamma}{\sigma}\big(\delta_{ik} - \tfrac1m
        - \tfrac1m\hat y_i\hat y_k\big).
    """
    return gamma / sigma * (d("i", "k") - 1 / m - yhat["i"] * yhat["k"] / m)


def second_derivative_closed_form() -> sympy.Expr:
    r""":math:`T_{ikl} = \partial^2 z_i/\partial y_k\partial y_l`, fully symmetric:

    .. math:: T_{ikl} = \frac{\gamma}{m\sigma^2}\Big(\tfrac3m\hat y_i\hat y_k\hat y_l
        - P_{il}\hat y_k - P_{ik}\hat y_l - P_{kl}\hat y_i\Big),\quad
        P_{ab} = \delta_{ab}-\tfrac1m .
    """
    P = lambda a, b: d(a, b) - 1 / m
    yhat_i, yhat_k, yhat_l = (yhat[a] for a in INDICES)
    return (
        gamma
        / (m * sigma**2)
        * (
            3 * yhat_i * yhat_k * yhat_l / m
            - P("i", "l") * yhat_k
            - P("i", "k") * yhat_l
            - P("k", "l") * yhat_i
        )
    )


# --------------------------------------------------------- batch-vector algebra
BASIS = ("1", "yhat", "g")
BASIS_LATEX = {"1": r"\mathbf 1", "yhat": r"\hat y", "g": "g"}
g_sq, g_one, g_yhat = sympy.symbols(
    r"\|g\|^2 \langle\mathbf{1}\,g\rangle \langle{g}\,\hat{y}\rangle", real=True
)


def gram(a: str, b: str) -> sympy.Expr:
    """Inner products of the basis vectors."""
    table = {
        ("1", "1"): m,
        ("1", "yhat"): sympy.Integer(0),
        ("yhat", "yhat"): m * rho,
        ("1", "g"): g_one,
        ("yhat", "g"): g_yhat,
        ("g", "g"): g_sq,
    }
    return table.get((a, b), table.get((b, a)))


def h_symbol(a: str, b: str) -> sympy.Symbol:
    """:math:`\\langle a, H b\\rangle` for basis vectors (H symmetric)."""
    a, b = sorted((a, b))
    names = {"1": r"\mathbf{1}", "yhat": r"\hat{y}", "g": "g"}
    return sympy.Symbol(rf"\langle {names[a]}\,H{names[b]}\rangle", real=True)


@dataclass
class Vec:
    """A batch vector as a combination of the basis vectors ``1``, ``yhat``, ``g``."""

    c: dict[str, sympy.Expr] = field(default_factory=dict)

    @staticmethod
    def basis(name: str) -> Vec:
        """The basis vector ``name`` (``"1"``, ``"yhat"`` or ``"g"``) with coefficient 1."""
        return Vec({name: sympy.Integer(1)})

    def __add__(self, other: Vec) -> Vec:
        out = dict(self.c)
        for k, v in other.c.items():
            out[k] = out.get(k, 0) + v
        return Vec(out)

    def __sub__(self, other: Vec) -> Vec:
        return self + other.scale(-1)

    def scale(self, s: sympy.Expr) -> Vec:
        """The vector times the scalar ``s``."""
        return Vec({k: s * v for k, v in self.c.items()})

    def dot(self, other: Vec) -> sympy.Expr:
        r""":math:`\langle u, w\rangle` for ``u = self``, ``w = other`` (via :func:`gram`)."""
        return sympy.Add(
            *[a * b * gram(p, q) for p, a in self.c.items() for q, b in other.c.items()]
        )

    def quad(self, other: Vec) -> sympy.Expr:
        r""":math:`\langle u, H w\rangle` for ``u = self``, ``w = other`` (via :func:`h_symbol`)."""
        return sympy.Add(
            *[a * b * h_symbol(p, q) for p, a in self.c.items() for q, b in other.c.items()]
        )


ONE, YHAT, G = Vec.basis("1"), Vec.basis("yhat"), Vec.basis("g")


def _index_factors(mono: sympy.Expr) -> tuple[sympy.Expr, dict[str, int], list[tuple[str, str]]]:
    """Split a monomial into (coefficient, yhat powers per index, delta pairs)."""
    coeff, powers, deltas = sympy.Integer(1), {a: 0 for a in INDICES}, []
    for factor, exp in mono.as_powers_dict().items():
        hit = [a for a in INDICES if factor == yhat[a]]
        pair = [p for p, s in delta.items() if factor == s]
        if hit:
            powers[hit[0]] += int(exp)
        elif pair:
            if exp != 1:
                raise ValueError(f"delta squared in {mono}")
            deltas.append(tuple(sorted(pair[0])))
        else:
            coeff *= factor**exp
    return coeff, powers, deltas


def contract(
    expr: sympy.Expr, vectors: dict[str, Vec], free: str | None = None
) -> Vec | sympy.Expr:
    r"""Contract an index expression with batch vectors.

    ``vectors`` maps each summed index to a :class:`Vec`; ``free`` (optional) is the one
    index left, and the result is then a :class:`Vec`, else a scalar.  A monomial's deltas
    merge indices; each merged index sums a product of at most two vectors and a power of
    :math:`\hat y` whose sum is an inner product of the algebra.
    """
    total: dict[str, sympy.Expr] | sympy.Expr = {} if free else sympy.Integer(0)
    for mono in sympy.Add.make_args(sympy.expand(expr)):
        coeff, powers, deltas = _index_factors(mono)
        groups = {a: {a} for a in INDICES if a in vectors or a == free}
        for a, b in deltas:
            ga, gb = groups[a], groups[b]
            merged = ga | gb
            for x in merged:
                groups[x] = merged
        seen: list[set] = []
        value, vec_out = coeff, None
        for grp in groups.values():
            if any(grp is s for s in seen):
                continue
            seen.append(grp)
            vecs = [vectors[a] for a in grp if a in vectors]
            power = sum(powers[a] for a in grp)
            factors = vecs + [YHAT] * power
            if free in grp:
                if len(factors) > 1:
                    raise ValueError(
                        f"cannot contract {mono}: elementwise product at the free index"
                    )
                vec_out = factors[0] if factors else ONE
            elif len(factors) == 2:
                value *= factors[0].dot(factors[1])
            elif len(factors) == 1:
                value *= factors[0].dot(ONE)
            else:
                raise ValueError(f"cannot contract {mono}: {len(factors)} factors at one index")
        if free:
            for k, v in vec_out.scale(value).c.items():
                total[k] = total.get(k, 0) + v
        else:
            total += value
    return Vec(total) if free else total
