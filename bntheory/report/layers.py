"""``reports/layers.md`` and ``reports/data/layers.json``: the registered layers, what each
provides, and the largest closed-form error against autograd measured in this run."""

from __future__ import annotations

import json

from bntheory.report.files import ReportDir
from bntheory.report.meta import provenance_markdown

SCHEMA = 1


def layers_json(summaries: list[dict], meta: dict, error_model: str) -> dict:
    return {"schema": SCHEMA, "meta": meta, "error_model": error_model, "layers": summaries}


def layers_markdown(doc: dict) -> str:
    lines = ["# Registered normalization layers", "", provenance_markdown(doc["meta"]), ""]
    lines += [
        "| layer | name | forward | symbolic | jvp | vjp | hvp | torch counterpart |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for layer in doc["layers"]:
        p = layer["provides"]
        lines.append(
            f"| {layer['title']} | `{layer['name']}` | {p['forward']} | {p['symbolic']} | {p['jvp']} | "
            f"{p['vjp']} | {p['hvp']} | `{p['torch_counterpart']}` |"
        )
    lines += [
        "",
        "## Closed forms against `torch.autograd`",
        "",
        "Each operation is compared, in float64, with automatic differentiation of the layer's "
        "forward (and the forward with its `torch.nn.functional` counterpart) on a fixed, seeded "
        "set of inputs: every batch family, shapes `(N, C)`, `(N, C, L)`, `(N, C, H, W)`, "
        "`eps` in {0, 1e-5, 0.5}, training and eval mode, `weight` of both signs and zero.",
        "",
        f"Error model: {doc['error_model']}. The column *bound used* is the largest error "
        "divided by that bound (at most 1 means agreement).",
        "",
        "| layer | operation | route | cases | max relative error | bound used | failures | worst case |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for layer in doc["layers"]:
        for op in layer["ops"]:
            lines.append(
                f"| `{layer['name']}` | {op['op']} | {op['route']} | {op['cases']} | "
                f"{op['max_rel_error']:.2e} | {op['max_ratio']:.3f} | {op['failures']} | {op['worst_case']} |"
            )
    return "\n".join(lines) + "\n"


def write_layers(out: ReportDir, summaries: list[dict], meta: dict, error_model: str) -> list[str]:
    doc = layers_json(summaries, meta, error_model)
    out.write("data/layers.json", json.dumps(doc, indent=1, sort_keys=False) + "\n")
    out.write("layers.md", layers_markdown(doc))
    return ["layers.md", "data/layers.json"]
