r"""Executable, literate proofs: each step is a SymPy equality that must simplify to zero,
or an inequality with a certificate.

A proof is a list of steps a reader would write.  ``Proof.eq(text, lhs, rhs)`` records the
claim ``lhs = rhs``; ``Proof.le(text, lhs, rhs, certificate)`` records ``lhs <= rhs`` with a
certificate ``c`` such that ``rhs - lhs = c`` is an identity and ``c >= 0`` is decided by
SymPy's assumptions (squares, positive symbols).  ``Proof.run()`` checks every step and
never stops at the first failure, so a report shows all of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sympy
from sympy.core.function import AppliedUndef


def _timed(step: Step | Check, decide: Callable[[], tuple[bool, str]]) -> bool:
    """Run ``decide``, store its verdict, detail and time on ``step``; a crash is a failure."""
    start = time.perf_counter()
    try:
        step.ok, step.detail = decide()
    except Exception as exc:  # a step that crashes is a failed step, reported as such
        step.ok, step.detail = False, f"{type(exc).__name__}: {exc}"
    step.seconds = time.perf_counter() - start
    return bool(step.ok)


def is_zero(expr: sympy.Expr) -> bool:
    """Decide ``expr == 0`` with increasingly expensive simplifications; a matrix is zero
    when every entry is."""
    expr = sympy.sympify(expr)
    if isinstance(expr, sympy.MatrixBase):
        return all(is_zero(entry) for entry in expr)
    if _nonzero_at_a_point(expr):
        return False
    for simplify in (
        lambda e: e,
        sympy.expand,
        sympy.cancel,
        lambda e: sympy.simplify(sympy.radsimp(e)),
    ):
        if simplify(expr) == 0:
            return True
    return False


def _nonzero_at_a_point(expr: sympy.Expr) -> bool:
    """Whether ``expr`` is certainly nonzero: its value at a point with positive rational
    coordinates (valid for real and positive symbols), to 30 digits, is far from 0.  A
    nonzero value proves the expression is not identically zero, so the expensive
    simplifications are spent only on expressions that may be zero."""
    symbols = sorted(expr.free_symbols, key=str)
    if expr.atoms(AppliedUndef, sympy.Derivative, sympy.Subs) or any(
        s.is_integer or s.is_nonpositive for s in symbols
    ):
        return False  # an unknown function, or symbols a positive rational does not fit
    point = {s: sympy.Rational(7 + 3 * i, 5 + 2 * i) for i, s in enumerate(symbols)}
    try:
        at = expr.subs(point)
        value = sympy.N(at, 30)
        # the size of the terms that cancel: 30 digits of them leave ~1e-30 of it as noise
        size = sum(abs(sympy.N(term, 30)) for term in sympy.Add.make_args(sympy.expand(at)))
    except (TypeError, ValueError, ZeroDivisionError):
        return False
    if not (value.is_real and value.is_finite and size.is_finite):
        return False
    return bool(abs(value) > 1e-20 * (1 + size))


@dataclass
class Step:
    """One step: ``lhs <relation> rhs``; ``certificate`` for inequalities."""

    text: str
    lhs: sympy.Expr
    rhs: sympy.Expr
    relation: str = "="  # "=", "<=", ">="
    certificate: sympy.Expr | None = None
    ok: bool | None = None
    seconds: float = 0.0
    detail: str = ""

    def check(self) -> bool:
        """Decide the step, store ``ok``, ``detail`` and ``seconds`` on it; return ``ok``.

        An equality holds if :func:`is_zero` shows ``lhs - rhs = 0``; an inequality if the
        certificate equals the gap and SymPy shows it is nonnegative.
        """
        return _timed(self, self._decide)

    def _decide(self) -> tuple[bool, str]:
        if self.relation == "=":
            if is_zero(self.lhs - self.rhs):
                return True, ""
            diff = self.lhs - self.rhs
            if isinstance(diff, sympy.MatrixBase) or sympy.count_ops(diff) > 200:
                return False, "lhs - rhs does not simplify to zero (too large to show)"
            return False, f"lhs - rhs simplifies to {sympy.simplify(diff)}"
        small, big = (self.lhs, self.rhs) if self.relation == "<=" else (self.rhs, self.lhs)
        if not is_zero(big - small - self.certificate):
            return False, "the certificate does not equal the gap"
        if not sympy.simplify(self.certificate).is_nonnegative:
            return False, "SymPy cannot show the certificate is nonnegative"
        return True, ""


@dataclass
class Check:
    """A non-symbolic verification step (e.g. agreement with explicit ``m`` or autograd)."""

    text: str
    fn: Callable[[], tuple[bool, str]]
    ok: bool | None = None
    seconds: float = 0.0
    detail: str = ""

    def check(self) -> bool:
        """Call ``fn``, store its verdict, detail and time on the step; return ``ok``."""
        return _timed(self, self.fn)


@dataclass
class Proof:
    """A named claim and the steps that establish it."""

    id: str
    title: str
    claim: str  # Markdown with LaTeX
    assumptions: list[str] = field(default_factory=list)
    steps: list[Step | Check] = field(default_factory=list)
    definitions: list[tuple[str, sympy.Expr, sympy.Expr]] = field(default_factory=list)
    #: LaTeX for symbols whose names SymPy would mangle (it reads ``_`` and ``^`` in names)
    symbol_names: dict[sympy.Symbol, str] = field(default_factory=dict)

    def define(self, text: str, name: sympy.Expr, value: sympy.Expr) -> sympy.Expr:
        """Record a definition ``name := value`` (shown in the rendering); returns ``value``."""
        self.definitions.append((text, name, value))
        return value

    def eq(self, text: str, lhs: sympy.Expr, rhs: sympy.Expr) -> Step:
        """Record the step ``lhs = rhs`` (checked by :meth:`run`); returns it."""
        step = Step(text, sympy.sympify(lhs), sympy.sympify(rhs))
        self.steps.append(step)
        return step

    def le(self, text: str, lhs: sympy.Expr, rhs: sympy.Expr, certificate: sympy.Expr) -> Step:
        """Record the step ``lhs <= rhs`` with ``certificate = rhs - lhs >= 0``; returns it."""
        step = Step(text, sympy.sympify(lhs), sympy.sympify(rhs), "<=", sympy.sympify(certificate))
        self.steps.append(step)
        return step

    def check(self, text: str, fn: Callable[[], tuple[bool, str]]) -> Check:
        """Record a non-symbolic step: ``fn()`` returns ``(ok, detail)``; returns the step."""
        step = Check(text, fn)
        self.steps.append(step)
        return step

    def run(self) -> ProofResult:
        """Check every step (never stopping at a failure) and return the timed result."""
        start = time.perf_counter()
        for step in self.steps:
            step.check()
        return ProofResult(self, all(s.ok for s in self.steps), time.perf_counter() - start)


@dataclass
class ProofResult:
    """The outcome of :meth:`Proof.run`: the proof, whether every step holds, the seconds."""

    proof: Proof
    ok: bool
    seconds: float

    @property
    def failed_steps(self) -> list[int]:
        """The 1-based numbers of the steps that do not hold."""
        return [i + 1 for i, s in enumerate(self.proof.steps) if not s.ok]


def render_markdown(result: ProofResult) -> str:
    """The proof as a reader would write it, with each step's check (no timings: the page
    must be reproducible; ``bntheory prove`` prints the times)."""
    p = result.proof
    tex = lambda e: sympy.latex(e, symbol_names=p.symbol_names)
    out = [f"# {p.title}", "", f"**Claim.** {p.claim}", ""]
    if p.assumptions:
        out += ["**Assumptions.**", ""] + [f"- {a}" for a in p.assumptions] + [""]
    if p.definitions:
        out += ["**Definitions.**", ""]
        out += [f"- {text}: $${tex(name)} := {tex(value)}$$" for text, name, value in p.definitions]
        out += [""]
    out += ["**Proof.**", ""]
    for i, s in enumerate(p.steps, 1):
        mark = "✓" if s.ok else "✗ FAILED"
        out.append(f"{i}. {s.text} ({mark})")
        if isinstance(s, Step):
            rel = {"=": "=", "<=": r"\le", ">=": r"\ge"}[s.relation]
            out += ["", f"   $${tex(s.lhs)} {rel} {tex(s.rhs)}$$"]
            if s.certificate is not None:
                out += ["", f"   certificate (gap, nonnegative): $${tex(s.certificate)}$$"]
        if s.detail:
            out += ["", f"   _{s.detail}_"]
        out.append("")
    verdict = "holds" if result.ok else f"FAILS at step(s) {result.failed_steps}"
    out += [f"**Result:** the proof {verdict}. ∎", ""]
    return "\n".join(out)
