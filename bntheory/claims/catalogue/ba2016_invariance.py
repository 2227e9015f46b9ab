r"""Ba, Kiros & Hinton (2016), Table 1, and Zhang & Sennrich (2019), Table 1: the invariances
of normalized layers under transformations of the weights and of the data.

The layer: pre-activations :math:`y_b = Wx_b` (no bias) of examples :math:`x_b`, then the
normalization :math:`N`, with its gain and bias :math:`\gamma, \beta` fixed (never
transformed); weight normalization (Salimans & Kingma 2016) instead normalizes the rows of
the weight, :math:`y_{bi} = g_i\langle v_i, x_b\rangle/\|v_i\|` (the "weight matrix" is then
:math:`V`, and :math:`g` stays fixed).  The claim of a cell: the output, every entry, is
unchanged by the column's transformation,

* ``weight-matrix-rescaling`` -- :math:`W \to cW`, :math:`c > 0`;
* ``weight-matrix-recentering`` -- :math:`W \to W + \mathbf 1\delta^\top` (the same
  :math:`\delta` added to every row);
* ``weight-vector-rescaling`` -- one row alone, :math:`w_i \to c\,w_i`;
* ``dataset-rescaling`` -- every example :math:`x_b \to c\,x_b`;
* ``dataset-recentering`` -- every example :math:`x_b \to x_b + \delta`;
* ``single-case-rescaling`` -- one example alone, :math:`x_a \to c\,x_a`.

The published cells (from the papers' Table 1, as we read them: Ba et al. list batch, weight
and layer normalization; Zhang & Sennrich repeat those rows and add RMSNorm):

============  ==========  ==========  ==========  ==========  ==========  ==========
layer         W resc.     W recent.   row resc.   data resc.  data rec.   one case
============  ==========  ==========  ==========  ==========  ==========  ==========
batchnorm     invariant   no          invariant   invariant   invariant   no
weightnorm    invariant   no          invariant   no          no          no
layernorm     invariant   invariant   no          invariant   no          invariant
rmsnorm       invariant   no          no          invariant   no          invariant
============  ==========  ==========  ==========  ==========  ==========  ==========

GroupNorm and InstanceNorm have no published entry (``published=None``); they are judged the
same way.  The layers, all the registered ones (training-mode BatchNorm: batch statistics):

* ``batchnorm`` -- examples ``X`` of shape ``(N, d)``, ``y = X W^T`` ``(N, C)``, one group
  per channel over the batch;
* ``layernorm``, ``rmsnorm`` -- the same ``y``, one group per example over its ``C``
  features (``normalized_shape = (C,)``);
* ``groupnorm`` -- the same ``y`` (a fully connected layer, no spatial axis) with
  :data:`GN_GROUPS` = 2 groups of ``C/2`` features per example;
* ``instancenorm`` -- examples of shape ``(C_in, L)`` (a spatial axis), a pointwise weight
  ``y[:, :, l] = W x[:, :, l]``, one group per example and channel over the ``L`` positions;
  ``dataset-recentering`` adds one :math:`\delta` of the example's shape ``(C_in, L)`` (a
  :math:`\delta` constant along the positions would be removed by the normalization);
* ``weightnorm`` -- :func:`bntheory.norms.parametrizations.weightnorm_forward`.

The published tables are about :math:`\varepsilon = 0`; both regimes are judged.  With
:math:`\varepsilon > 0`, :math:`N_\varepsilon(cy) = N_{\varepsilon/c^2}(y)`, so every
rescaling invariance of an activation normalization breaks, while the recentering ones
(a shift of a whole group) survive; weight normalization has no :math:`\varepsilon`.

The case space (:class:`ProblemSpace`): examples of every batch family
(:func:`~bntheory.cases.batches.channel_batch`: each input feature across the batch), a
Gaussian weight or one with nearly equal rows (a near-constant group for the per-example
layers), Gaussian :math:`\gamma`, :math:`\beta` (:math:`g`), the regime's
:math:`\varepsilon` (:data:`~bntheory.cases.strategies.THEOREM_EPS`), a scale :math:`c`, a
shift :math:`\delta` of a size relative to the root mean square of the weights (recentering
of ``W``) or of the examples (recentering of the data), the chosen row and example, and a
seed for the tensors.  A case where a group is constant at :math:`\varepsilon = 0` (the layer
divides by zero, either side) is not applicable.

The margin: :math:`\|N(\text{transformed}) - N(\text{original})\|` (every entry) against
the error model's relative tolerance (:func:`~bntheory.verify.errormodel.relative_tolerance`)
times the a-priori size of both outputs: :math:`\max|\gamma|\sqrt{n} + \|\beta\|` each
(:math:`\|\hat y\| \le \sqrt n` for ``n`` outputs), :math:`\|g\|\,\|X\|_F` for weight
normalization (:math:`|y_{bi}| \le |g_i|\,\|x_b\|`).  :math:`\kappa` is the larger, over both
sides, of the layer's :meth:`~bntheory.norms.base.Normalization.condition` at ``y`` and of
the a-priori condition of the pre-activations: per group, :math:`\max (|X||W|^\top)` (each
computed :math:`y` is off by at most :math:`d\,u\,(|X||W|^\top)`) over the group's spread
(its standard deviation; its root mean square for RMSNorm), capped at :math:`1/u`; 1 for
weight normalization, whose scale already bounds every term.  The group size in the
tolerance is the group's plus ``d`` (the dot products).  Nothing is tuned: the verdicts come
out of the search.  ``proofs/p11_invariance.py`` derives every cell at
:math:`\varepsilon = 0` (an identity, or an exact counterexample) and the
:math:`\varepsilon > 0` law.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from hypothesis import strategies as st

from bntheory.cases.batches import FAMILIES, channel_batch
from bntheory.cases.latex import number
from bntheory.cases.strategies import THEOREM_EPS
from bntheory.claims.model import Claim, ClaimInfo
from bntheory.claims.search import SearchJudge
from bntheory.errors import BNTheoryError
from bntheory.norms import get_layer
from bntheory.norms.base import condition_estimate
from bntheory.norms.parametrizations import weightnorm_forward
from bntheory.theorems.margin import Margin
from bntheory.verify.errormodel import relative_tolerance

ORDER = 50

LAYERS = ("batchnorm", "weightnorm", "layernorm", "rmsnorm", "groupnorm", "instancenorm")
#: Each transformation: (what it does in words, its LaTeX).
TRANSFORMATIONS = {
    "weight-matrix-rescaling": ("W -> cW, c > 0", r"W' = cW,\ c > 0"),
    "weight-matrix-recentering": (
        "W -> W + 1 delta^T (the same delta added to every row)",
        r"W' = W + \mathbf 1\delta^\top",
    ),
    "weight-vector-rescaling": (
        "one row alone: w_i -> c w_i, c > 0",
        r"w_i' = c\,w_i,\ w_j' = w_j\ (j \ne i),\ c > 0",
    ),
    "dataset-rescaling": ("every example x_b -> c x_b, c > 0", r"x_b' = c\,x_b\ \forall b,\ c > 0"),
    "dataset-recentering": ("every example x_b -> x_b + delta", r"x_b' = x_b + \delta\ \forall b"),
    "single-case-rescaling": (
        "one example alone: x_a -> c x_a, c > 0",
        r"x_a' = c\,x_a,\ x_b' = x_b\ (b \ne a),\ c > 0",
    ),
}
INV, NO = "invariant", "not invariant"
#: The papers' Table 1 (None: no published entry), in the order of :data:`TRANSFORMATIONS`.
PUBLISHED: dict[str, tuple[str, ...] | None] = {
    "batchnorm": (INV, NO, INV, INV, INV, NO),
    "weightnorm": (INV, NO, INV, NO, NO, NO),
    "layernorm": (INV, INV, NO, INV, NO, INV),
    "rmsnorm": (INV, NO, NO, INV, NO, INV),
    "groupnorm": None,
    "instancenorm": None,
}
SOURCES = {
    "batchnorm": "Ba, Kiros & Hinton (2016), Table 1 (also Zhang & Sennrich (2019), Table 1)",
    "weightnorm": "Ba, Kiros & Hinton (2016), Table 1 (also Zhang & Sennrich (2019), Table 1)",
    "layernorm": "Ba, Kiros & Hinton (2016), Table 1 (also Zhang & Sennrich (2019), Table 1)",
    "rmsnorm": "Zhang & Sennrich (2019), Table 1",
    "groupnorm": "no published entry",
    "instancenorm": "no published entry",
}
MACRO = {
    "batchnorm": r"\mathrm{BN}",
    "weightnorm": r"\mathrm{WN}_g",
    "layernorm": r"\mathrm{LN}",
    "rmsnorm": r"\mathrm{RMS}",
    "groupnorm": r"\mathrm{GN}",
    "instancenorm": r"\mathrm{IN}",
}
#: The groups of ``groupnorm``'s features (each example's ``C`` features in two halves).
GN_GROUPS = 2
WEIGHTS = ("gaussian", "near_equal_rows")
GRID = "ba2016-invariance"


@dataclass(frozen=True)
class Problem:
    """A layer, a transformation and the numbers that draw the tensors (:meth:`draw`).

    ``n`` examples of ``d`` inputs (``length`` positions each for ``instancenorm``, else 1),
    ``channels`` outputs; ``shift`` the size of ``delta`` relative to the root mean square of
    what it shifts; ``row`` and ``example`` the ones a single rescaling picks."""

    layer: str
    transformation: str
    n: int
    d: int
    channels: int
    length: int
    family: str
    weights: str
    eps: float
    c: float
    shift: float
    row: int
    example: int
    seed: int

    def to_json(self) -> dict:
        """The numbers that rebuild the problem."""
        return dict(self.__dict__)

    @staticmethod
    def from_json(d: dict) -> Problem:
        """The problem of :meth:`to_json`'s numbers."""
        ints = ("n", "d", "channels", "length", "row", "example", "seed")
        floats = ("eps", "c", "shift")
        return Problem(
            **{
                k: (int(v) if k in ints else float(v) if k in floats else str(v))
                for k, v in d.items()
            }
        )

    # ------------------------------------------------------------------ tensors
    def draw(self) -> dict[str, torch.Tensor]:
        """The tensors (float64): ``X``, ``W`` (``V``), ``gamma`` (``g``), ``beta`` and the
        unscaled shifts ``dw`` ``(d,)``, ``dx`` (an example's shape)."""
        rng = np.random.default_rng(self.seed)
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))
        shape = (self.n, self.d, self.length) if self.layer == "instancenorm" else (self.n, self.d)
        x = channel_batch(self.family, rng, shape)
        if self.weights == "gaussian":
            w = rng.normal(size=(self.channels, self.d))
        else:  # nearly equal rows: each example's pre-activations nearly constant
            w = rng.normal(size=(1, self.d)) + 10.0 ** rng.uniform(-8, -3) * rng.normal(
                size=(self.channels, self.d)
            )
        return {
            "X": t(x),
            "W": t(w),
            "gamma": t(rng.normal(size=self.channels) * 2),
            "beta": t(rng.normal(size=self.channels)),
            "dw": t(rng.normal(size=self.d)),
            "dx": t(rng.normal(size=shape[1:])),
        }

    def transform(self, t: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X', W')``: the examples and the weight after the transformation."""
        x, w, c = t["X"], t["W"], self.c
        rms = lambda a: float(torch.sqrt((a * a).mean()))
        kind = self.transformation
        if kind == "weight-matrix-rescaling":
            return x, c * w
        if kind == "weight-matrix-recentering":
            return x, w + (self.shift * rms(w)) * t["dw"][None, :]
        if kind == "weight-vector-rescaling":
            w2 = w.clone()
            w2[self.row] = c * w[self.row]
            return x, w2
        if kind == "dataset-rescaling":
            return c * x, w
        if kind == "dataset-recentering":
            return x + (self.shift * rms(x)) * t["dx"][None], w
        if kind == "single-case-rescaling":
            x2 = x.clone()
            x2[self.example] = c * x[self.example]
            return x2, w
        raise ValueError(f"unknown transformation {kind!r}")

    # ------------------------------------------------------------------ the layer
    def pre(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The pre-activations ``y = W x`` of every example (pointwise for instancenorm)."""
        if self.layer == "instancenorm":
            return torch.einsum("oi,nil->nol", w, x)
        return x @ w.T

    def args(self, t: dict[str, torch.Tensor]) -> tuple:
        """The registered layer's arguments after its input."""
        g, b, eps = t["gamma"], t["beta"], self.eps
        if self.layer in ("batchnorm", "instancenorm"):
            return (None, None, g, b, True, 0.1, eps)
        if self.layer == "layernorm":
            return ((self.channels,), g, b, eps)
        if self.layer == "rmsnorm":
            return ((self.channels,), g, eps)
        if self.layer == "groupnorm":
            return (GN_GROUPS, g, b, eps)
        raise ValueError(f"{self.layer} is not an activation normalization")

    def normalize(self, y: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
        """The registered layer on ``y`` (training-mode BatchNorm: batch statistics)."""
        return get_layer(self.layer).stateless_forward(y, *self.args(t))

    def group_size(self) -> int:
        """The values of one normalization group (of one row's norm for weightnorm)."""
        return {
            "batchnorm": self.n,
            "layernorm": self.channels,
            "rmsnorm": self.channels,
            "groupnorm": self.channels // GN_GROUPS,
            "instancenorm": self.length,
            "weightnorm": self.d,
        }[self.layer]

    def output(self, t, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, float, float]:
        """``(output, kappa, a-priori size of the output)`` of the layer at ``(x, w)``."""
        if self.layer == "weightnorm":
            z = weightnorm_forward(x, w, t["gamma"])
            size = float(torch.linalg.vector_norm(t["gamma"]) * torch.linalg.vector_norm(x))
            return z, 1.0, size
        y = self.pre(x, w)
        z = self.normalize(y, t)
        layer, args = get_layer(self.layer), self.args(t)
        rows = layer.groups(y, *args)
        big = layer.groups(self.pre(x.abs(), w.abs()), *args).amax(1)
        if self.layer != "rmsnorm":
            rows = rows - rows.mean(1, keepdim=True)
        spread = torch.sqrt((rows * rows).mean(1))
        kappa = max(
            float(condition_estimate(big, spread, y.dtype).max()),
            float(layer.condition(y, *args).max()),
        )
        gam = float(t["gamma"].abs().max())
        beta = torch.zeros_like(z) + (
            t["beta"].reshape((1, -1) + (1,) * (z.dim() - 2)) if self.layer != "rmsnorm" else 0
        )
        size = gam * math.sqrt(z.numel()) + float(torch.linalg.vector_norm(beta))
        return z, kappa, size


def invariance_margin(p: Problem):
    """``N(transformed) = N(original)``, every entry, against the error model's bound.

    Not applicable where either side divides by zero (a constant group at ``eps = 0``)."""
    t = p.draw()
    try:
        z, k0, s0 = p.output(t, t["X"], t["W"])
        z2, k1, s1 = p.output(t, *p.transform(t))
    except BNTheoryError:
        return Margin(0.0, 0.0, 0.0, False), {}
    tol = float(relative_tolerance(torch.float64, torch.tensor(max(k0, k1)), p.group_size() + p.d))
    scale = s0 + s1
    err = float(torch.linalg.vector_norm(z2 - z))
    if not math.isfinite(err):
        err = math.inf
    allowed = tol * scale
    sides = {
        "lhs": float(torch.linalg.vector_norm(z2)),
        "rhs": float(torch.linalg.vector_norm(z)),
        "tolerance": allowed,
        "identity": rf"\|N(\text{{transformed}}) - N(\text{{original}})\| = {number(err, 6)}",
    }
    return Margin(-err, scale, allowed, True), sides


@dataclass(frozen=True)
class ProblemSpace:
    """Problems of one layer and one transformation (sizes per layer: :meth:`sizes`)."""

    layer: str
    transformation: str

    def sizes(self):
        """Strategies of ``(n, d, channels, length)``."""
        if self.layer == "instancenorm":
            return st.integers(2, 4), st.integers(1, 3), st.integers(1, 3), st.integers(2, 6)
        if self.layer == "groupnorm":
            return (
                st.integers(2, 6),
                st.integers(1, 4),
                st.sampled_from([2 * GN_GROUPS, 3 * GN_GROUPS, 4 * GN_GROUPS]),
                st.just(1),
            )
        if self.layer in ("layernorm", "rmsnorm"):
            return st.integers(2, 6), st.integers(1, 4), st.integers(2, 6), st.just(1)
        return st.integers(2, 8), st.integers(1, 4), st.integers(1, 4), st.just(1)

    @property
    def description(self) -> str:
        """The space in words."""
        shapes = {
            "batchnorm": "X: N = 2-8 examples of d = 1-4 inputs, y = X W^T with C = 1-4 "
            "channels, one group per channel over the batch",
            "weightnorm": "X: N = 2-8 examples of d = 1-4 inputs, V: C = 1-4 rows, "
            "y_bi = g_i <v_i, x_b>/|v_i|",
            "layernorm": "X: N = 2-6 examples of d = 1-4 inputs, y = X W^T with C = 2-6 "
            "features, one group per example",
            "rmsnorm": "X: N = 2-6 examples of d = 1-4 inputs, y = X W^T with C = 2-6 "
            "features, one group per example",
            "groupnorm": f"X: N = 2-6 examples of d = 1-4 inputs, y = X W^T with C = 4, 6 or 8 "
            f"features in {GN_GROUPS} groups per example",
            "instancenorm": "X: N = 2-4 examples of C_in = 1-3 channels and L = 2-6 positions, "
            "pointwise y[:, :, l] = W x[:, :, l] with C = 1-3 channels, one group per example "
            "and channel",
        }
        return (
            f"{shapes[self.layer]}; every batch family, a Gaussian weight or one with nearly "
            "equal rows, Gaussian gamma and beta (fixed), the regime's eps, "
            f"{TRANSFORMATIONS[self.transformation][0]} with c in {{0.01, 0.5, 2, 3.7, 10, 100}}"
            ", delta Gaussian of 0.1, 1 or 10 times the root mean square of what it shifts, "
            "a random row and example"
        )

    def strategy(self, regime: str):
        """Problems of ``regime``'s ``eps`` values."""
        n_s, d_s, c_s, l_s = self.sizes()

        @st.composite
        def problems(draw) -> Problem:
            n, d, channels, length = draw(n_s), draw(d_s), draw(c_s), draw(l_s)
            return Problem(
                self.layer,
                self.transformation,
                n,
                d,
                channels,
                length,
                draw(st.sampled_from(list(FAMILIES))),
                draw(st.sampled_from(WEIGHTS)),
                draw(st.sampled_from(THEOREM_EPS[regime])),
                draw(st.sampled_from([2.0, 0.5, 10.0, 1e-2, 1e2, 3.7])),
                draw(st.sampled_from([1.0, 0.1, 10.0])),
                draw(st.integers(0, channels - 1)),
                draw(st.integers(0, n - 1)),
                draw(st.integers(0, 2**32 - 1)),
            )

        return problems()

    def to_json(self, case: Problem) -> dict:
        """The problem's numbers."""
        return case.to_json()

    def from_json(self, data: dict) -> Problem:
        """The problem of :meth:`to_json`'s numbers."""
        return Problem.from_json(data)

    def formulas(self, data: dict, sides: dict | None) -> list[str]:
        """The problem and the violated identity as display formulas."""
        kind = data["transformation"]
        what = {
            "weight-matrix-rescaling": rf"c = {number(data['c'])}",
            "weight-matrix-recentering": rf"\|\delta\|_{{\mathrm{{rms}}}} = "
            rf"{number(data['shift'])}\,\|W\|_{{\mathrm{{rms}}}}",
            "weight-vector-rescaling": rf"c = {number(data['c'])},\ i = {data['row']}",
            "dataset-rescaling": rf"c = {number(data['c'])}",
            "dataset-recentering": rf"\|\delta\|_{{\mathrm{{rms}}}} = "
            rf"{number(data['shift'])}\,\|X\|_{{\mathrm{{rms}}}}",
            "single-case-rescaling": rf"c = {number(data['c'])},\ a = {data['example']}",
        }[kind]
        size = rf"N = {data['n']},\quad d = {data['d']},\quad C = {data['channels']}"
        if data["layer"] == "instancenorm":
            size += rf",\quad L = {data['length']}"
        out = [
            rf"\text{{{data['layer']}, {kind}}},\quad {size},\quad "
            rf"\varepsilon = {number(data['eps'])},\quad {what},\quad "
            rf"\text{{{data['family'].replace('_', ' ')} inputs, "
            rf"{data['weights'].replace('_', ' ')} weight, seed {data['seed']}}}"
        ]
        if sides:
            out.append(
                rf"{sides['identity']}:\ \|\text{{lhs}}\| = {number(sides['lhs'], 10)},"
                rf"\ \|\text{{rhs}}\| = {number(sides['rhs'], 10)},"
                rf"\quad \text{{rounding allows}}\ {number(sides['tolerance'], 3)}"
            )
        return out


def _reading(layer: str, kind: str) -> str:
    pre = {
        "weightnorm": "y_bi = g_i <v_i, x_b>/|v_i| (weight normalization, no bias, no eps: the "
        "regime's eps is drawn but unused); the weight matrix is V, the gains g stay fixed",
        "instancenorm": "y = W x pointwise over the L positions (no bias), then training-mode "
        "InstanceNorm (each example's channel over its positions); gamma and beta fixed",
        "groupnorm": f"y = W x (no bias), then GroupNorm with {GN_GROUPS} groups of C/"
        f"{GN_GROUPS} features per example; gamma and beta fixed",
        "batchnorm": "y = W x (no bias), then training-mode BatchNorm (batch statistics, each "
        "channel over the batch); gamma and beta fixed",
        "layernorm": "y = W x (no bias), then LayerNorm over each example's C features; "
        "gamma and beta (elementwise) fixed",
        "rmsnorm": "y = W x (no bias), then RMSNorm over each example's C features; gamma fixed",
    }[layer]
    what = {
        "weight-matrix-rescaling": "the whole weight matrix is multiplied by c > 0",
        "weight-matrix-recentering": "the same vector delta (of the input's dimension) is "
        "added to every row of the weight matrix",
        "weight-vector-rescaling": "one row i of the weight matrix (one output channel's "
        "weights) is multiplied by c > 0, the others are kept",
        "dataset-rescaling": "every example of the batch is multiplied by c > 0",
        "dataset-recentering": "the same delta (of an example's shape"
        + (", (C_in, L): it may vary along the positions" if layer == "instancenorm" else "")
        + ") is added to every example of the batch",
        "single-case-rescaling": "one example a of the batch is multiplied by c > 0, the "
        "others are kept (the other examples' outputs count too)",
    }[kind]
    return (
        f"{pre}. Transformed: {what}; everything else is kept. Judged: every entry of the "
        "output on the batch is unchanged, up to the error model's rounding bound."
    )


def _claim(layer: str, kind: str) -> Claim:
    space = ProblemSpace(layer, kind)
    published = PUBLISHED[layer]
    cell = None if published is None else published[list(TRANSFORMATIONS).index(kind)]
    trans = TRANSFORMATIONS[kind][1]
    if layer == "weightnorm":  # the weight matrix is V
        lhs = rf"{MACRO[layer]}(V', X') = {MACRO[layer]}(V, X)"
        trans = trans.replace("W", "V").replace("w_", "v_")
    else:
        lhs = rf"{MACRO[layer]}(W'X') = {MACRO[layer]}(WX)"
    statement = lhs + r"\quad\text{for}\ " + trans
    title = f"{get_layer(layer).title if layer != 'weightnorm' else 'Weight normalization'}"
    info = ClaimInfo(
        id=f"ba2016.invariance.{layer}.{kind}",
        source=SOURCES[layer],
        statement=statement,
        case_space=space.description,
        reading=_reading(layer, kind),
        title=f"{title}: {kind.replace('-', ' ')}",
        derivation="invariance.md",
        paper="ba2016",
        grid=(GRID, layer, kind),
        published=cell,
    )
    return Claim(info, SearchJudge(space, invariance_margin))


CLAIMS = tuple(_claim(layer, kind) for layer in LAYERS for kind in TRANSFORMATIONS)
