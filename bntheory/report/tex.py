r"""``reports/bntheory.tex``: the report's content as one standalone LaTeX document.

It compiles with ``pdflatex`` (packages: amsmath, amssymb, graphicx, booktabs, hyperref, all in
TeX Live's base and recommended sets) from the ``reports/`` directory, where the figures it
includes live.  Prose is escaped and its non-ASCII symbols mapped to LaTeX; formulas are the
same strings the Markdown pages show.
"""

from __future__ import annotations

import re
from typing import Any

from bntheory.claims.model import ExactEvidence, MeasuredEvidence, Verdict
from bntheory.report.figures import TIGHTNESS_FIGURE, mean_ci, number
from bntheory.report.landscape import FIGURES as LANDSCAPE_FIGURES
from bntheory.report.layers import FIGURE as LAYER_FIGURE
from bntheory.report.verdicts import (
    from_runs,
    group,
    regime_label,
    regimes_of,
    search_word,
    split,
    verdict_word,
)

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "$": r"\$",
}
_UNICODE = {
    "ŷ": r"$\hat y$",
    "ĝ": r"$\hat g$",
    "Ŵ": r"$\hat W$",
    "γ": r"$\gamma$",
    "β": r"$\beta$",
    "ε": r"$\varepsilon$",
    "σ": r"$\sigma$",
    "ρ": r"$\rho$",
    "μ": r"$\mu$",
    "λ": r"$\lambda$",
    "η": r"$\eta$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "≠": r"$\neq$",
    "⁻¹": r"$^{-1}$",
    "ᵀ": r"$^\top$",
    "‖": r"$\|$",
    "−": "-",
    "“": "``",
    "”": "''",
    "’": "'",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "√": r"$\surd$",
    "∞": r"$\infty$",
    "⟨": r"$\langle$",
    "⟩": r"$\rangle$",
    "∈": r"$\in$",
    "…": r"\dots{}",
    "ℓ": r"$\ell$",
    "₀": r"$_0$",
    "²": r"$^2$",
    "—": "---",
    "–": "--",
    "→": r"$\to$",
}


def text(s: str) -> str:
    """Prose with inline ``$...$`` math: the math kept, the rest escaped."""
    parts = re.split(r"(\$[^$]+\$)", s)
    out = []
    for p in parts:
        if p.startswith("$") and p.endswith("$") and len(p) > 1:
            out.append(p)
            continue
        buf = []
        i = 0
        while i < len(p):
            two = p[i : i + 2]
            if two in _UNICODE:
                buf.append(_UNICODE[two])
                i += 2
                continue
            ch = p[i]
            if ch in _SPECIAL:
                buf.append(_SPECIAL[ch])
            elif ch in _UNICODE:
                buf.append(_UNICODE[ch])
            elif ord(ch) < 128:
                buf.append(ch)
            else:
                buf.append("?")
            i += 1
        out.append("".join(buf))
    return "".join(out)


def _regime_math(regime: str) -> str:
    """``eps>0`` as ``$\\varepsilon > 0$``."""
    return "$" + regime_label(regime).replace("eps", r"\varepsilon") + "$"


def _code(s: str) -> str:
    return r"\texttt{" + text(s) + "}"


def _gather(formulas: list[str]) -> list[str]:
    return [r"\begin{gather*}", "\\\\\n".join(formulas), r"\end{gather*}"]


def _analogues(analogues: list[dict[str, Any]]) -> list[str]:
    """Theorem 1 across layers: directions removed, sup of the gain, the bound."""
    from bntheory.verify.analogues import RegimeSummary

    out = [
        r"\section{Theorems 1 and 2 across normalization layers}",
        r"The gain $\sigma^2\|\hat g\|^2/(\gamma^2\|g\|^2)$ in each layer's own scale $\sigma$ "
        r"(Theorem 1's "
        r"bound: gain $\le 1$), its supremum over $g$, and the gradient directions each layer "
        r"removes; "
        r"definitions in \texttt{layers.md}.",
        r"\begin{center}\small\begin{tabular}{lllll}\toprule",
        r"layer & removed, $\varepsilon = 0$ & removed, $\varepsilon = 0.1$ & sup gain "
        r"($\varepsilon = 0$; 0.1) "
        r"& Theorem 1's bound \\ \midrule",
    ]
    for a in analogues:
        reg = {r["regime"]: RegimeSummary(**r) for r in a["regimes"]}
        if not reg:
            continue
        holds = all(r.excess <= 1 for r in reg.values())
        sups = "; ".join(number(reg[k].sup_gain) for k in ("eps=0", "eps>0") if k in reg)
        out.append(
            f"{_code(a['name'])} & {text(reg['eps=0'].directions() if 'eps=0' in reg else '--')} & "
            f"{text(reg['eps>0'].directions() if 'eps>0' in reg else '--')} & {sups} & "
            f"{'holds' if holds else 'exceeded'} \\\\"
        )
    out += [
        r"\bottomrule\end{tabular}\end{center}",
        r"\begin{center}",
        rf"\includegraphics[width=\textwidth]{{{LAYER_FIGURE}.png}}",
        r"\end{center}",
    ]
    return out


def document(
    verdicts: list[Verdict],
    proofs: dict[str, Any],
    landscape: dict[str, list[dict[str, Any]]],
    meta: dict[str, Any],
    analogues: list[dict[str, Any]] | None = None,
) -> str:
    """The whole report as one LaTeX document."""
    main, beyond = split(verdicts)
    columns = regimes_of(main)
    out = [
        r"\documentclass[10pt]{article}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\usepackage{amsmath,amssymb,graphicx,booktabs}",
        r"\usepackage[hidelinks]{hyperref}",
        r"\setcounter{MaxMatrixCols}{20}",
        r"\title{bntheory: which claims about BatchNorm hold}",
        r"\date{"
        + text(
            f"generated {meta['generated']} by {meta['command']} (seed {meta['seed']}, "
            f"device {meta['device']})"
        )
        + "}",
        r"\begin{document}",
        r"\maketitle",
        text(
            "Everything here is generated by `make report`: verdicts are discovered by a "
            "Hypothesis search "
            "and a worst-case search and re-checked from their printed numbers; derivations are "
            "executable "
            "SymPy proofs; the landscape numbers come from networks trained in the same run."
        ),
        "",
        r"\section{Verdicts}",
        r"\begin{center}\small\begin{tabular}{l" + "l" * len(columns) + r"l}\toprule",
        "statement & "
        + " & ".join(_regime_math(c) for c in columns)
        + r" & worst-case search \\ \midrule",
    ]
    for sid, entries in group(main).items():
        r = {v.regime: v for v in entries}
        search = "; ".join(search_word(r[k]) for k in columns if k in r)
        cells = " & ".join(text(verdict_word(r[k])) if k in r else "--" for k in columns)
        out.append(f"{_code(sid)} & {cells} & {text(search)} \\\\")
    out += [r"\bottomrule\end{tabular}\end{center}"]
    if beyond:
        out += [
            r"\subsection*{Claims beyond Santurkar et al.}",
            r"\begin{center}\small\begin{tabular}{lp{0.62\textwidth}}\toprule",
            r"claim & verdicts \\ \midrule",
        ]
        for sid, entries in group(beyond).items():
            cells = "; ".join(f"{v.regime}: {verdict_word(v)}" for v in entries)
            out.append(f"{_code(sid)} & {text(cells)} \\\\")
        out += [r"\bottomrule\end{tabular}\end{center}"]
    runs = [v for v in verdicts if from_runs(v)]
    if runs:
        out += [
            r"\subsection*{Empirical claims, judged from training runs}",
            text(
                "Means over seeds of the per-seed statistic (paired by seed) with their 95 % "
                "BCa bootstrap intervals."
            ),
            r"\begin{center}\small\begin{tabular}{llp{0.4\textwidth}}\toprule",
            r"claim & regime & verdict \\ \midrule",
        ]
        for v in runs:
            out.append(f"{_code(v.id)} & {text(v.regime)} & {text(verdict_word(v))} \\\\")
        out += [r"\bottomrule\end{tabular}\end{center}"]
    by_id = group(verdicts)
    out += [
        r"\begin{center}",
        rf"\includegraphics[width=\textwidth]{{{TIGHTNESS_FIGURE}.png}}",
        r"\end{center}",
        "",
        r"\section{Statements}",
    ]
    for sid, entries in by_id.items():
        info = entries[0].claim
        out += [
            r"\subsection{" + _code(sid) + "}",
            text(f"Source: {info.source}."),
            r"\begin{equation*}" + info.statement + r"\end{equation*}",
        ]
        if info.assumptions:
            out.append(text("Assumptions: " + "; ".join(info.assumptions)) + r"\par")
        if info.reading:
            out.append(text("Reading: " + info.reading) + r"\par")
        shown = False
        for v in entries:
            out.append(
                r"\noindent "
                + text(f"{v.regime}: ")
                + r"\textbf{"
                + text(verdict_word(v))
                + "}"
                + text(
                    f" after {v.evidence.examples} "
                    + ("seeds." if isinstance(v.evidence, MeasuredEvidence) else "examples; ")
                    + (
                        ""
                        if isinstance(v.evidence, MeasuredEvidence)
                        else f"worst-case search: {search_word(v)}."
                    )
                )
                + r"\par"
            )
            ev = v.evidence
            if isinstance(ev, ExactEvidence):
                if ev.counterexample and not shown:
                    out += [text("Exact counterexample:")] + _gather(ev.counterexample_latex)
                    shown = ev.regime_free
            elif getattr(ev, "counterexample", None):
                out += _gather(ev.counterexample_latex)
    out.append(r"\section{Derivations}")
    for p in proofs.get("proofs", []):
        out += [r"\subsection{" + text(p["title"]) + "}", text(p["claim"]) + r"\par"]
        out.append(r"\begin{enumerate}")
        for s in p["steps"]:
            item = r"\item " + text(s["text"])
            if "lhs" in s:
                rel = {"=": "=", "<=": r"\le", ">=": r"\ge"}.get(s.get("relation", "="), "=")
                item += (
                    r"\begin{equation*}"
                    + s["lhs"]
                    + " "
                    + rel
                    + " "
                    + s["rhs"]
                    + r"\end{equation*}"
                )
            out.append(
                item
                + (" " + text("(holds)") if s["ok"] else " " + r"\textbf{" + text("(FAILS)") + "}")
            )
        out.append(r"\end{enumerate}")
    if analogues:
        out += _analogues(analogues)
    if landscape:
        out += [
            r"\section{The landscape with and without BatchNorm}",
            r"\begin{center}\small",
            r"\begin{tabular}{lllllll}\toprule",
            r"preset & norm & lr & loss variation & predictiveness & $\beta$-smoothness & ICS cos "
            r"\\ \midrule",
        ]
        for name, summaries in landscape.items():
            for s in summaries:
                vals = [
                    s["loss_variation"],
                    s["predictiveness_max"],
                    s["beta_smoothness"],
                    s["ics_cos"],
                ]
                if all(v["mean"] is None for v in vals):
                    continue  # a preset without probes (the learning-rate grid)
                cells = " & ".join(text(mean_ci(x, missing="--")) for x in vals)
                out.append(f"{text(name)} & {_code(s['norm'])} & {s['lr']:g} & {cells} \\\\")
        out += [r"\bottomrule\end{tabular}\end{center}"]
        for name in landscape:
            for fig, _ in LANDSCAPE_FIGURES:
                out += [
                    r"\begin{center}",
                    rf"\includegraphics[width=\textwidth]{{landscape/{name}-{fig}.png}}",
                    r"\end{center}",
                ]
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"
