r"""(k) Invariances of normalized layers: Ba, Kiros & Hinton (2016), Table 1, and Zhang & Sennrich
(2019), Table 1, for BatchNorm, weight normalization, LayerNorm, RMSNorm, GroupNorm and
InstanceNorm.

The layer is :math:`y_b = Wx_b` (no bias) and then the normalization, whose :math:`\gamma`,
:math:`\beta` are fixed.  Each transformation of the weights or of the data acts on the
pre-activations :math:`y` in one of three ways *per normalization group*: it scales the whole
group (:math:`y \to cy`), it shifts the whole group by one number (:math:`y \to y + s\mathbf 1`),
or it does something else (scales part of the group, shifts its entries by different amounts).
The proof shows, with SymPy, (1) what each transformation does to the groups of each layer, for
explicit sizes (3 examples, 2 inputs, 3 channels; InstanceNorm 2 examples, 2 input channels,
3 positions), (2) that every layer's registered symbolic forward ignores a scaling of a group
when :math:`\varepsilon = 0` and the centering ones a shift for every :math:`\varepsilon`, and
that :math:`N_\varepsilon(cy) = N_{\varepsilon/c^2}(y)`, (3) weight normalization's row-wise
scale invariance, and (4) with exact numbers, that each cell the steps leave "not invariant"
has a counterexample, at :math:`\varepsilon = 0` and :math:`\varepsilon = 1`.  The catalogue's
claims ``ba2016.invariance.<layer>.<transformation>`` judge the same cells numerically.
"""

import sympy

from bntheory.symbolic.proof import Proof

KINDS = (
    "weight-matrix-rescaling",
    "weight-matrix-recentering",
    "weight-vector-rescaling",
    "dataset-rescaling",
    "dataset-recentering",
    "single-case-rescaling",
)
ACTIVATION = ("batchnorm", "layernorm", "rmsnorm", "groupnorm", "instancenorm")
CENTERED = ("batchnorm", "layernorm", "groupnorm", "instancenorm")
LAYERS = ("batchnorm", "weightnorm", "layernorm", "rmsnorm", "groupnorm", "instancenorm")
INV, N = "invariant", "not invariant"
#: What the steps derive (eps = 0 and eps > 0); the last check confirms each cell exactly.
DERIVED = {
    "eps=0": {
        "batchnorm": (INV, N, INV, INV, INV, N),
        "weightnorm": (INV, N, INV, N, N, N),
        "layernorm": (INV, INV, N, INV, N, INV),
        "rmsnorm": (INV, N, N, INV, N, INV),
        "groupnorm": (INV, INV, N, INV, N, INV),
        "instancenorm": (INV, N, INV, INV, N, INV),
    },
    "eps>0": {
        "batchnorm": (N, N, N, N, INV, N),
        "weightnorm": (INV, N, INV, N, N, N),
        "layernorm": (N, INV, N, N, N, N),
        "rmsnorm": (N, N, N, N, N, N),
        "groupnorm": (N, INV, N, N, N, N),
        "instancenorm": (N, N, N, N, N, N),
    },
}

c = sympy.Symbol("c", positive=True)
s = sympy.Symbol("s", real=True)
eps = sympy.Symbol("varepsilon", positive=True)
gamma, beta = sympy.symbols("gamma beta", real=True)
Y = sympy.symbols("y_1:4", real=True)  # one normalization group of 3 values


def group_forward(layer: str, y, e=0, g=1, b=0) -> list:
    r"""One normalization group of ``layer`` in SymPy: :math:`\gamma(y-\mu)/\sqrt{\mathrm{var}+
    \varepsilon}+\beta` (RMSNorm: :math:`\gamma y/\sqrt{\overline{y^2}+\varepsilon}`, no
    ``beta``).  Written out here so that the proofs import without torch;
    ``tests/claims/test_ba2016.py`` checks them against the registered layers' own
    ``symbolic`` forms."""
    y = list(y)
    n = len(y)
    if layer == "rmsnorm":
        ms = sum(v * v for v in y) / n
        return [g * v / sympy.sqrt(ms + e) for v in y]
    mu = sum(y) / n
    var = sum((v - mu) ** 2 for v in y) / n
    return [g * (v - mu) / sympy.sqrt(var + e) + b for v in y]


def _symbolic(layer: str, y, e=0):
    """One group of ``layer`` with the shared symbols ``gamma`` and ``beta``."""
    return group_forward(layer, y, e, gamma, beta)


def _table_text(regime: str) -> str:
    head = "| layer | " + " | ".join(KINDS) + " |"
    rule = "|" + "---|" * (len(KINDS) + 1)
    rows = [
        f"| {layer} | " + " | ".join("invariant" if v == INV else "no" for v in cells) + " |"
        for layer, cells in DERIVED[regime].items()
    ]
    return "\n".join([head, rule, *rows])


# ------------------------------------------------------------- (1) the groups
def _matrices():
    """Symbolic examples ``X`` (3 x 2), weight ``W`` (3 x 2), shift ``delta`` (2)."""
    x = sympy.Matrix(3, 2, sympy.symbols("x_1:4_1:3", real=True))
    w = sympy.Matrix(3, 2, sympy.symbols("w_1:4_1:3", real=True))
    d = sympy.Matrix(2, 1, sympy.symbols("delta_1:3", real=True))
    return x, w, d


def _zero(m) -> bool:
    return all(sympy.expand(e) == 0 for e in m)


def _fully_connected() -> tuple[bool, str]:
    x, w, d = _matrices()
    one3 = sympy.ones(3, 1)
    y = x * w.T  # (examples, channels)
    checks = {
        "W -> cW gives cy": _zero(x * (c * w).T - c * y),
        "x_b -> c x_b gives cy": _zero((c * x) * w.T - c * y),
        # each example b: every feature shifted by the same s_b = <delta, x_b>
        "W -> W + 1 delta^T shifts example b by <delta, x_b> in every channel": _zero(
            x * (w + one3 * d.T).T - (y + (x * d) * one3.T)
        ),
        # each channel i: every example shifted by the same t_i = (W delta)_i
        "x_b -> x_b + delta shifts channel i by (W delta)_i in every example": _zero(
            (x + one3 * d.T) * w.T - (y + one3 * (w * d).T)
        ),
    }
    w1 = w.copy()
    w1[0, :] = c * w[0, :]
    y1 = y.copy()
    y1[:, 0] = c * y[:, 0]
    checks["w_1 -> c w_1 scales channel 1 alone"] = _zero(x * w1.T - y1)
    x1 = x.copy()
    x1[0, :] = c * x[0, :]
    y2 = y.copy()
    y2[0, :] = c * y[0, :]
    checks["x_1 -> c x_1 scales example 1 alone"] = _zero(x1 * w.T - y2)
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        return False, "fails: " + "; ".join(bad)
    return True, "y = X W^T, 3 examples, 2 inputs, 3 channels, every entry: " + "; ".join(checks)


def _pointwise() -> tuple[bool, str]:
    """InstanceNorm's layer: y[b, :, l] = W x[b, :, l], 2 examples, 2 input channels, 3
    positions, 2 output channels."""
    xs = [sympy.Matrix(2, 3, sympy.symbols(f"x{b}_1:3_1:4", real=True)) for b in range(2)]
    w = sympy.Matrix(2, 2, sympy.symbols("w_1:3_1:3", real=True))
    dw = sympy.Matrix(2, 1, sympy.symbols("delta_1:3", real=True))
    dx = sympy.Matrix(2, 3, sympy.symbols("Delta_1:3_1:4", real=True))
    ys = [w * xb for xb in xs]  # (channels, positions)
    one2 = sympy.ones(2, 1)
    ok = all(_zero((c * w) * xb - c * yb) for xb, yb in zip(xs, ys))
    ok &= all(_zero(w * (c * xb) - c * yb) for xb, yb in zip(xs, ys))
    # W + 1 delta^T: position l of every channel shifted by <delta, x[b, :, l]>, which varies
    shift_w = all(
        _zero((w + one2 * dw.T) * xb - (yb + one2 * (dw.T * xb))) for xb, yb in zip(xs, ys)
    )
    # x + Delta: channel i, position l shifted by (W Delta[:, l])_i, which varies with l
    shift_x = all(_zero(w * (xb + dx) - (yb + w * dx)) for xb, yb in zip(xs, ys))
    w1 = w.copy()
    w1[0, :] = c * w[0, :]
    row = all(
        _zero((w1 * xb)[0, :] - c * yb[0, :]) and _zero((w1 * xb)[1, :] - yb[1, :])
        for xb, yb in zip(xs, ys)
    )
    if not (ok and shift_w and shift_x and row):
        return False, "a pointwise identity fails"
    return True, (
        "y[b,:,l] = W x[b,:,l], 2 examples, 2 input channels, 3 positions, 2 channels: "
        "W -> cW and x -> cx scale every instance (b, i); x_a -> c x_a scales example a's "
        "instances; w_i -> c w_i scales the instances of channel i; W -> W + 1 delta^T shifts "
        "position l by <delta, x[b,:,l]> and x -> x + Delta by (W Delta[:,l])_i: shifts that vary "
        "along the positions of an instance"
    )


# ------------------------------------------------------------ (4) exact numbers
X_FC = sympy.Matrix([[1, 2], [3, -1], [0, 1]])  # 3 examples, 2 inputs
W_FC = sympy.Matrix([[1, 0], [1, 1], [2, -1], [0, 1], [-1, 2], [3, 1]])  # 6 channels
X_IN = [sympy.Matrix([[1, 2, 0], [0, 1, 3]]), sympy.Matrix([[2, -1, 1], [1, 1, 0]])]
W_IN = sympy.Matrix([[1, 2], [-1, 1]])  # InstanceNorm: 2 input, 2 output channels
C_NUM = sympy.Integer(2)
DW = sympy.Matrix([1, 3])  # added to every row of W (every weight has 2 inputs)
DX_FC = sympy.Matrix([[1, 3]])  # added to every example (fully connected)
DX_IN = sympy.Matrix([[1, 0, 2], [-1, 2, 0]])  # added to every example (InstanceNorm)
GN_GROUPS = 2


def _outputs(layer: str, x, w, e) -> list:
    """Every output entry of ``layer`` at exact examples and weight (gamma = 1, beta = 0)."""
    f = lambda group: group_forward(layer, group, e)
    if layer == "instancenorm":
        return [v for xb in x for row in (w * xb).tolist() for v in f(row)]
    if layer == "weightnorm":
        rows = [w[i, :] / sympy.sqrt((w[i, :] * w[i, :].T)[0]) for i in range(w.rows)]
        return [(rows[i] * x[b, :].T)[0] for b in range(x.rows) for i in range(w.rows)]
    y = (x * w.T).tolist()
    if layer == "batchnorm":
        return [v for col in zip(*y) for v in f(col)]
    if layer in ("layernorm", "rmsnorm"):
        return [v for row in y for v in f(row)]
    k = len(y[0]) // GN_GROUPS
    return [v for row in y for g in range(GN_GROUPS) for v in f(row[g * k : (g + 1) * k])]


def _transformed(layer: str, kind: str):
    """The exact examples and weight after ``kind``."""
    inst = layer == "instancenorm"
    x, w = (list(X_IN), W_IN.copy()) if inst else (X_FC.copy(), W_FC.copy())
    if kind == "weight-matrix-rescaling":
        w = C_NUM * w
    elif kind == "weight-matrix-recentering":
        w = w + sympy.ones(w.rows, 1) * DW.T
    elif kind == "weight-vector-rescaling":
        w[0, :] = C_NUM * w[0, :]
    elif kind == "dataset-rescaling":
        x = [C_NUM * xb for xb in x] if inst else C_NUM * x
    elif kind == "dataset-recentering":
        x = [xb + DX_IN for xb in x] if inst else x + sympy.ones(x.rows, 1) * DX_FC
    else:  # single-case-rescaling: the first example
        if inst:
            x[0] = C_NUM * x[0]
        else:
            x[0, :] = C_NUM * x[0, :]
    return x, w


def _table(regime: str) -> tuple[bool, str]:
    e = 0 if regime == "eps=0" else 1
    wrong = []
    for layer in LAYERS:
        inst = layer == "instancenorm"
        base = _outputs(layer, list(X_IN) if inst else X_FC, W_IN if inst else W_FC, e)
        for kind, expected in zip(KINDS, DERIVED[regime][layer]):
            new = _outputs(layer, *_transformed(layer, kind), e)
            if not all(v.is_finite for v in new + base):
                return False, f"{layer}/{kind}: a constant group (the numbers are degenerate)"
            gap = sympy.Add(*[(a - b) ** 2 for a, b in zip(new, base)])
            if expected == INV:
                found = INV if sympy.simplify(sympy.radsimp(gap)) == 0 else N
            else:  # certified nonzero: 40 correct digits of a positive number
                found = N if abs(sympy.N(gap, 40)) > sympy.Float("1e-30", 40) else INV
            if found != expected:
                wrong.append(f"{layer}/{kind}: {found}")
    if wrong:
        return False, "cells that differ from the derivation: " + ", ".join(wrong)
    return True, (
        f"eps = {e}; examples X = {X_FC.tolist()} (InstanceNorm: {[m.tolist() for m in X_IN]}), "
        f"weight W = {W_FC.tolist()} (InstanceNorm: {W_IN.tolist()}), c = {C_NUM}, "
        f"delta = {DW.T.tolist()[0]} (weights), {DX_FC.tolist()[0]} / {DX_IN.tolist()} (data), "
        "row 1, example 1, GroupNorm with 2 groups of 3: every 'invariant' cell exactly equal, "
        "every 'no' cell a nonzero squared difference"
    )


def build() -> Proof:
    p = Proof(
        id="invariance",
        title="(k) Invariances of normalized layers under rescaling and recentering of the "
        "weights and the data (Ba et al. 2016, Zhang & Sennrich 2019, Table 1)",
        claim=r"Let $y_b = Wx_b$ (no bias) feed a normalization $N$ with fixed $\gamma$, "
        r"$\beta$ (weight normalization: $y_{bi} = g_i\langle v_i, x_b\rangle/\|v_i\|$, fixed "
        r"$g$). With $\varepsilon = 0$ the output is invariant exactly in the cells marked "
        r"invariant (GroupNorm: 2 groups of the features; InstanceNorm: a pointwise weight on "
        r"examples with positions, $\delta$ of the example's shape), and every other cell has "
        r"a counterexample:" + "\n\n" + _table_text("eps=0") + "\n\n"
        r"With $\varepsilon > 0$, $N_\varepsilon(cy) = N_{\varepsilon/c^2}(y)$ breaks every "
        r"rescaling invariance of an activation normalization; the recentering ones (a shift of "
        r"whole groups) hold for every $\varepsilon$; weight normalization has no "
        r"$\varepsilon$:" + "\n\n" + _table_text("eps>0"),
        assumptions=[
            r"$c > 0$",
            r"every group has a positive variance (mean square for RMSNorm) when "
            r"$\varepsilon = 0$; $v_i \neq 0$",
            r"$\gamma, \beta, g$ are not transformed (an elementwise $\gamma$, $\beta$ is a "
            r"fixed map after the normalization of the group)",
        ],
    )
    p.check(
        r"What the transformations do to $y = XW^\top$ (rows: examples): $W \to cW$ and "
        r"$x_b \to cx_b$ give $cy$; $w_1 \to cw_1$ scales channel 1 alone; $x_1 \to cx_1$ "
        r"scales example 1 alone; $W \to W + \mathbf 1\delta^\top$ shifts every channel of "
        r"example $b$ by the same $\langle\delta, x_b\rangle$; $x_b \to x_b + \delta$ shifts "
        r"every example of channel $i$ by the same $(W\delta)_i$. So for BatchNorm (groups: "
        r"channels) the weight rescalings, the dataset rescaling and the dataset recentering "
        r"scale or shift whole groups, while $W + \mathbf 1\delta^\top$ and a single case "
        r"do not; for LayerNorm, RMSNorm and GroupNorm (groups: one example's features, all "
        r"or a block) $cW$, $cX$, $W + \mathbf 1\delta^\top$ and a single case scale or shift "
        r"whole groups, while one row and $X + \delta$ do not",
        _fully_connected,
    )
    p.check(
        r"InstanceNorm (groups: one example's channel over its positions): $cW$, $cX$, one "
        r"row and one case scale whole groups; both recenterings shift the positions of a "
        r"group by different amounts",
        _pointwise,
    )
    for layer in ACTIVATION:
        p.eq(
            rf"{layer}, $\varepsilon = 0$: scaling a group by $c > 0$ leaves its output "
            r"unchanged (entry 1; the map is symmetric in the group's values, so every entry): "
            r"$N(cy)_1 = N(y)_1$",
            _symbolic(layer, [c * v for v in Y])[0],
            _symbolic(layer, Y)[0],
        )
    for layer in CENTERED:
        p.eq(
            rf"{layer}, every $\varepsilon \ge 0$: shifting a group by $s$ leaves its output "
            r"unchanged (mean and variance: $\mu \to \mu + s$, $\mathrm{var}$ unchanged): "
            r"$N_\varepsilon(y + s\mathbf 1)_1 = N_\varepsilon(y)_1$",
            _symbolic(layer, [v + s for v in Y], eps)[0],
            _symbolic(layer, Y, eps)[0],
        )
    for layer in ACTIVATION:
        p.eq(
            rf"{layer}, $\varepsilon > 0$: $N_\varepsilon(cy) = N_{{\varepsilon/c^2}}(y)$, "
            r"which differs from $N_\varepsilon(y)$ unless $c = 1$ (entry 1)",
            _symbolic(layer, [c * v for v in Y], eps)[0],
            _symbolic(layer, Y, eps / c**2)[0],
        )
    v = sympy.symbols("v_1:4", real=True)
    x = sympy.symbols("x_1:4", real=True)
    g = sympy.Symbol("g", real=True)
    wn = lambda row: g * sum(a * b for a, b in zip(row, x)) / sympy.sqrt(sum(a**2 for a in row))
    p.eq(
        r"Weight normalization: each row is normalized alone, $g\langle cv, x\rangle/\|cv\| = "
        r"g\langle v, x\rangle/\|v\|$ ($c > 0$, 3 inputs), so $V \to cV$ and $v_i \to cv_i$ leave "
        r"every output unchanged; it has no $\varepsilon$",
        wn([c * a for a in v]),
        wn(v),
    )
    p.eq(
        r"... but it is linear in the data: $x_b \to cx_b$ scales the outputs by $c$",
        wn(v).subs({a: c * a for a in x}, simultaneous=True),
        c * wn(v),
    )
    dl = sympy.symbols("delta_1:4", real=True)
    p.eq(
        r"... and $x_b \to x_b + \delta$ adds $g\langle v,\delta\rangle/\|v\|$ to every output",
        wn(v).subs({a: a + b for a, b in zip(x, dl)}, simultaneous=True) - wn(v),
        g * sum(a * b for a, b in zip(v, dl)) / sympy.sqrt(sum(a**2 for a in v)),
    )
    p.check(
        r"The table at $\varepsilon = 0$, with exact numbers (the layers' symbolic forwards "
        r"group by group, $\gamma = 1$, $\beta = 0$): each invariant cell exactly equal, "
        r"each other cell a counterexample",
        lambda: _table("eps=0"),
    )
    p.check(
        r"The table at $\varepsilon = 1$, the same numbers: only the recentering invariances "
        r"(and weight normalization's) survive",
        lambda: _table("eps>0"),
    )
    return p
