"""``reports/derivations/``: each executable proof rendered as Markdown with LaTeX, an index,
and ``reports/data/proofs.json`` with every step's result."""

from __future__ import annotations

import json

import sympy

from bntheory.report.files import ReportDir
from bntheory.report.meta import provenance_markdown
from bntheory.symbolic.proof import ProofResult, Step, render_markdown

SCHEMA = 1


def proofs_json(results: list[ProofResult], meta: dict) -> dict:
    """The proofs' results and provenance as the JSON document of the report."""
    proofs = []
    for r in results:
        steps = []
        for s in r.proof.steps:
            entry = {"text": s.text, "ok": bool(s.ok), "detail": s.detail}
            if isinstance(s, Step):
                entry |= {
                    "relation": s.relation,
                    "lhs": sympy.latex(s.lhs),
                    "rhs": sympy.latex(s.rhs),
                }
            steps.append(entry)
        proofs.append(
            {
                "id": r.proof.id,
                "title": r.proof.title,
                "claim": r.proof.claim,
                "assumptions": r.proof.assumptions,
                "ok": r.ok,
                "steps": steps,
            }
        )
    return {"schema": SCHEMA, "meta": meta, "proofs": proofs}


def write_derivations(out: ReportDir, results: list[ProofResult], meta: dict) -> list[str]:
    """Write one page per proof and the index; seconds are left out of the JSON (not
    reproducible)."""
    written = []
    index = [
        "# Derivations and proofs",
        "",
        provenance_markdown(meta),
        "",
        "Each proof is executable: every step is a SymPy identity that must simplify to zero, an "
        "inequality with a certificate, or a check against explicit batch sizes. Run them with "
        "`bntheory prove`.",
        "",
        "| proof | claim | steps | result |",
        "|---|---|---|---|",
    ]
    for r in results:
        rel = f"derivations/{r.proof.id}.md"
        out.write(rel, render_markdown(r) + "\n" + provenance_markdown(meta))
        written.append(rel)
        index.append(
            f"| [{r.proof.title}]({r.proof.id}.md) | {r.proof.claim.split('. ')[0].rstrip('.')}. | "
            f"{len(r.proof.steps)} | {'holds' if r.ok else 'FAILS'} |"
        )
    out.write("derivations/README.md", "\n".join(index) + "\n")
    out.write("data/proofs.json", json.dumps(proofs_json(results, meta), indent=1) + "\n")
    return written + ["derivations/README.md", "data/proofs.json"]
