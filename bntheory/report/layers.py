"""``reports/layers.md`` and ``reports/data/layers.json``: the registered layers, what each
provides, its checks (symbolic at 50 digits, closed forms against autograd and torch), and
the analogues of Theorems 1 and 2 across layers, with ``figures/layer-gains.png``."""

from __future__ import annotations

import json

from bntheory.report.figures import number
from bntheory.report.files import ReportDir
from bntheory.report.meta import provenance_markdown

SCHEMA = 2
FIGURE = "figures/layer-gains"


def layers_json(
    summaries: list[dict],
    meta: dict,
    error_model: str,
    symbolic: dict[str, dict] | None = None,
    analogues: list[dict] | None = None,
) -> dict:
    """The layer summaries and provenance as the JSON document of the report."""
    return {
        "schema": SCHEMA,
        "meta": meta,
        "error_model": error_model,
        "layers": summaries,
        "symbolic": symbolic or {},
        "analogues": analogues or [],
    }


def analogue_rows(analogues: list[dict]) -> list[str]:
    """The cross-layer table of the Theorem 1/2 analogues."""
    from bntheory.verify.analogues import RegimeSummary

    lines = [
        "| layer | directions removed, eps = 0 | eps = 0.1 | sup gain, eps = 0 | eps = 0.1 | "
        "Theorem 1's bound "
        "(gain ≤ 1) | attained | median gain (Gaussian g) | curvature term min / median / max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a in analogues:
        if not a["regimes"]:
            lines.append(f"| `{a['name']}` | {a['skipped']} | | | | | | | |")
            continue
        by = {r["regime"]: r for r in a["regimes"]}
        reg = {k: RegimeSummary(**v) for k, v in by.items()}
        sups = [r["sup_gain"] for r in a["regimes"]]
        holds = all(
            r["excess"] <= 1 for r in a["regimes"]
        )  # gain <= 1 within the error model's tolerance
        attained = all(r["attained"] == r["cases"] for r in a["regimes"])
        some = any(r["attained"] for r in a["regimes"])
        gains = [r["random_gain"][1] for r in a["regimes"] if r["random_gain"]]
        curv = by.get("eps>0", a["regimes"][0])["curvature"]
        lines.append(
            f"| `{a['name']}` | {reg['eps=0'].directions() if 'eps=0' in reg else '—'} | "
            f"{reg['eps>0'].directions() if 'eps>0' in reg else '—'} | "
            f"{number(by['eps=0']['sup_gain']) if 'eps=0' in by else '—'} | "
            f"{number(by['eps>0']['sup_gain']) if 'eps>0' in by else '—'} | "
            f"{'holds' if holds else 'exceeded (up to ' + number(max(sups)) + ')'} | "
            f"{'yes, in every case' if attained else ('in some cases' if some else 'no')} | "
            f"{number(min(gains)) if gains else '—'} | {' / '.join(number(c) for c in curv)} |"
        )
    return lines


def layers_markdown(doc: dict, figure: str | None = FIGURE) -> str:
    """The layers document as Markdown."""
    lines = ["# Registered normalization layers", "", provenance_markdown(doc["meta"]), ""]
    lines += [
        "| layer | name | forward | symbolic | jvp | vjp | hvp | torch counterpart |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for layer in doc["layers"]:
        p = layer["provides"]
        lines.append(
            f"| {layer['title']} | `{layer['name']}` | {p['forward']} | {p['symbolic']} | "
            f"{p['jvp']} | "
            f"{p['vjp']} | {p['hvp']} | `{p['torch_counterpart']}` |"
        )
    autograd = [
        f"`{layer['name']}` "
        f"({', '.join(op for op in ('jvp', 'vjp', 'hvp') if layer['provides'][op] == 'autograd')})"
        for layer in doc["layers"]
        if "autograd" in {layer["provides"][op] for op in ("jvp", "vjp", "hvp")}
    ]
    if autograd:
        lines += [
            "",
            "Computed by automatic differentiation (the layer gives no closed form): "
            + ", ".join(autograd)
            + ".",
        ]
    if doc.get("analogues"):
        lines += [
            "",
            "## Theorems 1 and 2 across layers",
            "",
            "Per normalization group (scaled to unit variance; every batch family, m = 4, 16, 64), "
            "with "
            "the layer's Jacobian J from its own `jvp` and its scale σ² = ‖y − μ1‖²/‖z − z̄1‖² "
            "(BatchNorm: "
            "var + eps, the σ of Theorem 1; RMSNorm: mean(y²) + eps; ℓp: (s_p + eps)²). *Gain* is "
            "σ²‖ĝ‖²/(γ²‖g‖²) for ĝ = Jᵀg: Theorem 1's bound ‖ĝ‖² ≤ γ²‖g‖²/σ² says gain ≤ 1. *sup "
            "gain* "
            "is σ² s_max(J)², the largest over g (attained by J's top left singular vector), "
            "maximised "
            "over the cases; *attained*: whether the sup equals 1 (to the error model's tolerance) "
            "in every case. *Directions removed*: the "
            "vectors g with Jᵀg = 0 (to the error model's tolerance) in every case. *Curvature "
            "term*: "
            "the layer's own part of Theorem 2, ĝᵀ∇²⟨g, z⟩ĝ, as σ²√m·(·)/(‖g‖‖ĝ‖²), eps = 0.1. "
            "The exact values are derived in [derivations/](derivations/README.md) (theorem1, "
            "theorem2, "
            "group-layers, rmsnorm-analogues, lp-batchnorm-analogues).",
            "",
        ]
        lines += analogue_rows(doc["analogues"])
        if figure:
            lines += [
                "",
                f"![gain per layer]({figure}.png)",
                "",
                f"*[{figure}.png]({figure}.png)*: the gain over Gaussian g (bar: min to max, dot: "
                f"median) and "
                "its supremum over g (cross), per layer and regime; the dashed line is Theorem "
                "1's bound.",
            ]
    sym = doc.get("symbolic") or {}
    if sym:
        lines += [
            "",
            "## Symbolic forms against the torch layer",
            "",
            "SymPy's forward, Jacobian and second derivative of each layer's `symbolic` map "
            "(explicit "
            "m = 2, 3, 4, evaluated at 50 digits at random rational points) against the layer's "
            "torch "
            "forward and closed forms, under the error model.",
            "",
            "| layer | comparisons | bound used | failures |",
            "|---|---|---|---|",
        ]
        for name, s in sym.items():
            lines.append(
                f"| `{name}` | {s['comparisons']} | {s['max_ratio']:.3f} | {s['failures']} |"
            )
    lines += [
        "",
        "## Closed forms against `torch.autograd`",
        "",
        "Each operation is compared, in float64, with automatic differentiation of the layer's "
        "forward (and the forward with its `torch.nn.functional` counterpart, except on the "
        "scale-extreme families tiny_scale and huge_scale where torch's kernels lose the variance) "
        "on "
        "a fixed, seeded set of inputs: every batch family in every normalization group, shapes "
        "`(N, C)`, `(N, C, L)`, `(N, C, H, W)`, `eps` in {0, 1e-5, 0.5}, training and eval mode "
        "where "
        "the layer has one, `weight` of both signs and zero.",
        "",
        f"Error model: {doc['error_model']}. The column *bound used* is the largest error "
        "divided by that bound (at most 1 means agreement). *Autograd not finite*: cases where "
        "autograd's own intermediates overflow or underflow (groups of scale 1e-100) while the "
        "closed "
        "form is finite; they are not compared.",
        "",
        "| layer | operation | route | cases | max relative error | bound used | failures | "
        "autograd not finite | worst case |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for layer in doc["layers"]:
        for op in layer["ops"]:
            lines.append(
                f"| `{layer['name']}` | {op['op']} | {op['route']} | {op['cases']} | "
                f"{op['max_rel_error']:.2e} | {op['max_ratio']:.3f} | {op['failures']} | "
                f"{op.get('reference_not_finite', 0)} | {op['worst_case']} |"
            )
    return "\n".join(lines) + "\n"


def gains_figure(analogues: list[dict]) -> tuple[bytes, bytes]:
    """Per layer and regime: the Gaussian-g gain range and median, and the supremum over g."""
    from bntheory.report.figures import plt, render

    rows = [a for a in analogues if a["regimes"]]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.5 * len(rows) + 1.6), sharey=True)
    for ax, regime in zip(axes, ("eps=0", "eps>0")):
        for i, a in enumerate(rows):
            r = next((r for r in a["regimes"] if r["regime"] == regime), None)
            if r is None or not r["random_gain"]:
                continue
            lo, med, _, hi = r["random_gain"]
            ax.plot([max(lo, 1e-6), hi], [i, i], color="tab:blue", lw=3, alpha=0.5)
            ax.plot([med], [i], "o", color="tab:blue")
            ax.plot([r["sup_gain"]], [i], "x", color="tab:red", ms=9, mew=2)
        ax.axvline(1.0, color="k", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_title(f"{regime.replace('eps>0', 'eps = 0.1').replace('eps=0', 'eps = 0')}")
        ax.set_xlabel("gain  σ²‖ĝ‖² / (γ²‖g‖²)")
        ax.grid(True, which="both", axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(rows)), [a["name"] for a in rows])
    axes[0].invert_yaxis()
    fig.suptitle(
        "Theorem 1 across layers: gain over Gaussian g (bar, dot: median) and its sup over g (×)"
    )
    fig.tight_layout()
    return render(fig)


def write_layers(
    out: ReportDir,
    summaries: list[dict],
    meta: dict,
    error_model: str,
    symbolic: dict[str, dict] | None = None,
    analogues: list[dict] | None = None,
) -> list[str]:
    """Write the layers report (JSON, Markdown and figure) into ``out``."""
    doc = layers_json(summaries, meta, error_model, symbolic, analogues)
    written = []
    if analogues:
        png, svg = gains_figure(analogues)
        out.write(f"{FIGURE}.png", png)
        out.write(f"{FIGURE}.svg", svg)
        written += [f"{FIGURE}.png", f"{FIGURE}.svg"]
    out.write("data/layers.json", json.dumps(doc, indent=1, sort_keys=False) + "\n")
    out.write("layers.md", layers_markdown(doc, FIGURE if analogues else None))
    return ["layers.md", "data/layers.json"] + written
