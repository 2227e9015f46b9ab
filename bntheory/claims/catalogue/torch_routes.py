r"""PyTorch's own derivatives of its normalization functions: one claim per (function, route).

The claim ``torch.<function>.<route>`` says that the autodiff route computes the derivatives
of :math:`L(x, W, B) = \langle g, f(x; W, B)\rangle` that it is meant to compute -- the
gradient, the output's tangent, or the Hessian-vector product, in every block of
``(x, weight, bias)`` and for a tangent in any of them -- equal to the closed forms of
:mod:`bntheory.norms.affine` up to the error model (:func:`bntheory.verify.routes.check`).
It is judged by searching Hypothesis-drawn cases: shapes and batch sizes, weights of every
sign pattern, ``eps`` from 0 to 0.1, inputs shifted and scaled, float64 and float32, each
case with one tangent per argument, one in all of them, and three cotangents.  The regime is
the device: ``cpu``, and ``cuda`` where there is one.  A refuted claim's page has the shrunk
case; the report writes a standalone script for it under ``torch/``.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from bntheory.cases.batches import FAMILIES
from bntheory.claims.model import Claim, ClaimInfo
from bntheory.claims.search import SearchJudge
from bntheory.theorems.margin import Margin
from bntheory.verify import routes

ORDER = 100

#: Examples per profile: a case runs the route once per tangent and the closed forms.
BUDGET = {"quick": 4, "ci": 30, "thorough": 200}

#: The devices the claims are judged on (the regimes).
DEVICES: tuple[str, ...] = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)

EPS = (1e-5, 1e-3, 0.1, 0.0)  # Hypothesis prefers the first: one that every function takes
#: The batch families of the cases: all but the 1e±100 scales, whose derivatives (up to
#: 1e200 at eps = 0) overflow the routes' intermediate products and float32 cannot hold --
#: a question of range, which the layers' own battery covers, not of the derivative.
ROUTE_FAMILIES = tuple(f for f in FAMILIES if f not in ("tiny_scale", "huge_scale"))
WEIGHTS = ("mixed", "positive", "negative", "ones", "zero")


class RouteSpace:
    """The cases of one function: drawn sizes, seed, ``eps``, weights, shift, scale, dtype."""

    def __init__(self, function: str):
        self.function = function
        self.description = (
            f"`{function}`: inputs (N, C[, L]) with N in 2..4, C in 1..3, L in 1..3, every "
            f"normalization group a batch of one family ({', '.join(ROUTE_FAMILIES)}), shifted by "
            "loc in {0, 1, 10} and scaled by {0.01, 1, 100}; weights of kinds "
            f"{', '.join(WEIGHTS)}; eps in {{{', '.join(f'{e:g}' for e in EPS)}}}; float64 "
            "and float32 (cases a dtype cannot hold, or outside the function's domain, are "
            "skipped); tangents in x, weight, bias alone and all at once; three cotangents"
        )

    def strategy(self, regime: str):
        """The cases on device ``regime`` (JSON dicts, :func:`routes.draw`)."""
        sizes = st.tuples(
            st.integers(2, 4), st.integers(1, 3), st.integers(1, 3)
        )  # shrinks to the smallest batch
        return st.builds(
            routes.draw,
            st.just(self.function),
            st.sampled_from(("float64", "float32")),
            st.just(regime),
            sizes,
            st.integers(0, 2**16),
            st.sampled_from(EPS),
            st.sampled_from(WEIGHTS),
            st.sampled_from((0.0, 1.0, 10.0)),
            st.sampled_from((1.0, 0.01, 100.0)),
            st.sampled_from(ROUTE_FAMILIES),
        )

    def to_json(self, case: dict) -> dict:
        """A case is its JSON already."""
        return case

    def from_json(self, data: dict) -> dict:
        """The case of a record's numbers."""
        return data

    def formulas(self, data: dict, sides: dict | None) -> list[str]:
        """The case in words, and the two disagreeing values."""
        shape = r"\times".join(str(s) for s in data["shape"])
        name = data["function"].replace("_", r"\_")
        out = [
            rf"\texttt{{{name}}},\ "
            rf"x\in\mathbb R^{{{shape}}},\ \varepsilon = {data['eps']:g},\ "
            rf"\texttt{{{data['dtype']}}}\ \text{{on}}\ \texttt{{{data['device']}}}"
        ]
        if sides:
            out.append(
                rf"\text{{error}} = {sides['lhs']:.4g},\ \text{{allowed}} = "
                rf"{sides['rhs']:.3g},\ \text{{route}} = {sides['route_value']:.6g},\ "
                rf"\text{{closed form}} = {sides['exact_value']:.6g}"
            )
        return out


def margin_of(route: str):
    """The margin function of a route: ``1 - error/allowed`` of the worst block."""

    def margin(data: dict) -> tuple[Margin, dict]:
        found = routes.check(routes.ROUTES[route], routes.build(data))
        finite = lambda v: v if v == v and abs(v) != float("inf") else 1e308
        sides = {
            "lhs": finite(found.error),
            "rhs": found.allowed,
            "tolerance": 0.0,
            "ratio": finite(found.ratio),
            "route_value": found.route_value,
            "exact_value": found.exact_value,
        }
        margin = Margin(
            slack=1.0 - found.ratio, scale=1.0, tolerance=0.0, applicable=found.applicable
        )
        return margin, sides

    return margin


def context(regime: str) -> dict:
    """The provenance of a verdict: torch's version and the device."""
    out = {"torch": torch.__version__, "device": regime}
    if regime == "cuda" and torch.cuda.is_available():
        out["device_name"] = torch.cuda.get_device_name()
    return out


def _statement(function: routes.Function, route: routes.Route) -> str:
    kinds = {
        "grad": r"\nabla_{(x,W,B)} L",
        "jvp": r"\dot z = \partial f\,(v, V_W, V_B)",
        "hvp": r"\nabla^2_{(x,W,B)} L\,(v, V_W, V_B)",
    }
    what = ",\\ ".join(kinds[k] for k in route.kinds)
    name = function.name.replace("_", r"\_")
    return (
        rf"\texttt{{{route.name}}}\ \text{{of}}\ \texttt{{{name}}}\ \text{{computes}}\ "
        rf"{what},\quad L = \langle g, f(x; W, B)\rangle"
    )


def function_id(function: routes.Function, route: routes.Route) -> str:
    """The claim id of a (function, route)."""
    return f"torch.{function.name}.{route.name}"


def _claim(function: routes.Function, route: routes.Route) -> Claim:
    target = (
        f"torch.nn.{function.name.removeprefix('nn.')} (through torch.func.functional_call)"
        if function.module
        else f"torch.nn.functional.{function.name}"
    )
    info = ClaimInfo(
        id=function_id(function, route),
        source=f"PyTorch: {route.title} of {target}",
        statement=_statement(function, route),
        case_space=RouteSpace(function.name).description,
        reading=(
            "equal to the closed forms of bntheory.norms.affine up to the error model, "
            "normwise per result (a gradient, an output tangent, an HVP: every block against "
            "the summed term scales of all its blocks); a route that raises instead of "
            "returning is refuted too, and its page says so"
        ),
        paper="torch",
        title=f"{route.title} of {target}",
        notes=(
            "Routes and closed forms: `bntheory/verify/routes.py`, `bntheory/norms/affine.py`. "
            "Every route and function, the largest error of each in units of the error model, "
            "and the peer libraries' routes: [torch/index.md](../torch/index.md); when refuted, "
            f"a standalone repro script: [torch/{function_id(function, route)}.py]"
            f"(../torch/{function_id(function, route)}.py) (on CUDA, with the suffix `-cuda`).",
        ),
    )
    judge = SearchJudge(
        space=RouteSpace(function.name),
        margin=margin_of(route.name),
        budget=BUDGET,
        context=context,
        keep_closest=True,
    )
    return Claim(info, judge, regimes=DEVICES)


CLAIMS = tuple(
    _claim(function, route)
    for function in routes.FUNCTIONS.values()
    for route in routes.ROUTES.values()
)
