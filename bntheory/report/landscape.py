"""Landscape figures (the paper's figure types) and the page that shows them."""

from __future__ import annotations

import json
import posixpath
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bntheory.landscape.probes import HIST_BINS, HIST_RANGE  # noqa: E402
from bntheory.report.figures import mean_ci, number, render  # noqa: E402
from bntheory.report.files import ReportDir  # noqa: E402
from bntheory.report.meta import provenance_markdown  # noqa: E402

SCHEMA = 1


def _label(doc: dict[str, Any]) -> str:
    return f"{doc['config']['norm']} (lr {doc['config']['lr']:g})"


def _steps(doc):
    return [p["step"] for p in doc["probes"]]


def curves_figure(runs: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """The training curves, one panel per learning rate, as PNG and PDF bytes."""
    lrs = sorted({r["config"]["lr"] for r in runs})
    fig, axes = plt.subplots(1, len(lrs), figsize=(6 * len(lrs), 4.2), squeeze=False)
    for ax, lr in zip(axes[0], lrs):
        for r in (r for r in runs if r["config"]["lr"] == lr):
            (line,) = ax.plot(
                range(1, len(r["train_loss"]) + 1),
                r["train_loss"],
                lw=0.8,
                alpha=0.7,
                label=f"{r['config']['norm']} train",
            )
            ax.plot(
                _steps(r),
                [p["test"]["loss"] for p in r["probes"]],
                "o--",
                color=line.get_color(),
                ms=3,
                label=f"{r['config']['norm']} test",
            )
            if r["diverged_at"] is not None:
                ax.axvline(r["diverged_at"], color=line.get_color(), ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"training and test loss, lr {lr:g}")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return render(fig)


def landscape_figure(runs: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """Loss-variation band, gradient-predictiveness band, effective beta-smoothness."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.4))
    for r in (r for r in runs if r["probes"]):
        s = _steps(r)
        lab = _label(r)
        band = axes[0].fill_between(
            s,
            [p["loss_min"] for p in r["probes"]],
            [p["loss_max"] for p in r["probes"]],
            alpha=0.3,
            label=lab,
        )
        color = band.get_facecolor()[0]
        axes[1].fill_between(
            s,
            [p["pred_min"] for p in r["probes"]],
            [p["pred_max"] for p in r["probes"]],
            alpha=0.3,
            color=color,
            label=lab,
        )
        axes[2].plot(
            s, [p["beta_smoothness"] for p in r["probes"]], "o-", ms=3, color=color[:3], label=lab
        )
    titles = (
        "loss along the gradient: min-max over eta",
        "gradient predictiveness: min-max over eta",
        "effective beta-smoothness",
    )
    ylabels = (
        "L(x - eta grad L)",
        "|grad L(x) - grad L(x - eta grad L)|",
        "max_eta |grad diff| / |eta grad L|",
    )
    for ax, t, yl in zip(axes, titles, ylabels):
        ax.set_title(t)
        ax.set_xlabel("step")
        ax.set_ylabel(yl)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return render(fig)


def ics_figure(runs: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """ICS per layer (Definition 2.1), averaged over the probes after initialization."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for r in (r for r in runs if r["probes"]):
        body = r["probes"][1:] or r["probes"]
        n = len(body[0]["ics"])
        l2 = [sum(p["ics"][i]["l2"] for p in body) / len(body) for i in range(n)]
        cos = [sum(p["ics"][i]["cos"] for p in body) / len(body) for i in range(n)]
        axes[0].plot(
            range(1, n + 1), [v if v > 0 else float("nan") for v in l2], "o-", ms=3, label=_label(r)
        )
        axes[1].plot(range(1, n + 1), cos, "o-", ms=3, label=_label(r))
    axes[0].set_title(
        "internal covariate shift: |G - G'| per layer\n(layer 1: 0 by definition, not drawn)"
    )
    axes[0].set_yscale("log")
    axes[1].set_title("internal covariate shift: cos(G, G') per layer")
    for ax in axes:
        ax.set_xlabel("layer (forward order)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return render(fig)


def activations_figure(runs: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """Histograms of the first and the last Norm layer's output at the final probe."""
    with_acts = [r for r in runs if r["probes"] and r["probes"][-1]["activations"]]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    edges = [
        HIST_RANGE[0] + (HIST_RANGE[1] - HIST_RANGE[0]) * i / HIST_BINS
        for i in range(HIST_BINS + 1)
    ]
    centers = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    for ax, which in zip(axes, (0, -1)):
        for r in with_acts:
            rec = r["probes"][-1]["activations"][which]
            total = sum(rec["hist"]) or 1.0
            ax.plot(
                centers, [h / total for h in rec["hist"]], label=f"{_label(r)} ({rec['layer']})"
            )
        ax.set_title(
            f"{'first' if which == 0 else 'last'} normalized layer's activations, final step"
        )
        ax.set_xlabel("activation value")
        ax.set_ylabel("fraction")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return render(fig)


#: The measurements of the figure over seeds: (summary key, probe value, title).
SEED_PANELS = (
    (
        "loss_variation",
        lambda p: p["loss_max"] - p["loss_min"],
        "loss variation (max - min over eta)",
    ),
    ("predictiveness_max", lambda p: p["pred_max"], "gradient predictiveness (max over eta)"),
    ("beta_smoothness", lambda p: p["beta_smoothness"], "effective beta-smoothness"),
)
SEED_FIGURE = "seeds"


def seeds_figure(seed_runs: dict[int, list[dict[str, Any]]]) -> tuple[bytes, bytes]:
    """The landscape measurements over training, per (norm, lr): the mean over seeds at each
    probe with its 95 % bootstrap interval as a band (:func:`bntheory.stats.mean_interval`)."""
    from bntheory.stats import mean_interval

    fig, axes = plt.subplots(1, len(SEED_PANELS), figsize=(17, 4.4))
    by_run: dict[tuple[str, float], list[dict]] = {}
    for docs in seed_runs.values():
        for d in docs:
            by_run.setdefault((d["config"]["norm"], d["config"]["lr"]), []).append(d)
    for (norm, lr), docs in by_run.items():
        steps = sorted({p["step"] for d in docs for p in d["probes"]})
        if not steps:
            continue
        for ax, (_, value, _) in zip(axes, SEED_PANELS):
            rows = []
            for t in steps:
                vals = [value(p) for d in docs for p in d["probes"] if p["step"] == t]
                rows.append(mean_interval(vals))
            xs = [t for t, r in zip(steps, rows) if r["mean"] is not None]
            (line,) = ax.plot(
                xs,
                [r["mean"] for r in rows if r["mean"] is not None],
                "o-",
                ms=3,
                label=f"{norm} (lr {lr:g})",
            )
            band = [(t, r) for t, r in zip(steps, rows) if r["lo"] is not None]
            if band:
                ax.fill_between(
                    [t for t, _ in band],
                    [r["lo"] for _, r in band],
                    [r["hi"] for _, r in band],
                    color=line.get_color(),
                    alpha=0.2,
                )
    for ax, (_, _, title) in zip(axes, SEED_PANELS):
        ax.set_title(f"{title}\nmean over {len(seed_runs)} seeds, band: 95 % interval")
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return render(fig)


def _diff(cell: dict | None) -> str:
    if not cell or cell.get("difference") is None:
        return "—"
    ci = "" if cell.get("lo") is None else f" [{number(cell['lo'])}, {number(cell['hi'])}]"
    rel = "" if cell.get("relative") is None else f" ({cell['relative']:+.0%})"
    return f"{number(cell['difference'])}{ci}{rel}"


def seeds_markdown(over_seeds: dict[str, Any], figure: str) -> list[str]:
    """The page's section over seeds: means with intervals, and the paired differences."""
    from bntheory.landscape.summary import METRICS

    heads = ("loss variation", "predictiveness (max)", "beta-smoothness", "ICS l2", "ICS cos")
    seeds = over_seeds["seeds"]
    md = [
        f"## Over {len(seeds)} seeds ({', '.join(map(str, seeds))})",
        "",
        "Each cell: the mean over seeds of the run medians, with its 95 % BCa bootstrap interval "
        "over seeds.",
        "",
        "| norm | lr | diverged | " + " | ".join(heads) + " |",
        "|---|---|---|" + "---|" * len(heads),
    ]
    for row in over_seeds["summaries"]:
        cells = " | ".join(mean_ci(row[m]) for m in METRICS)
        md.append(f"| `{row['norm']}` | {row['lr']:g} | {row['diverged']} | {cells} |")
    if over_seeds.get("paired"):
        md += [
            "",
            "Against `none` at the same learning rate, paired by seed: the mean difference with "
            "its 95 % interval and the relative effect (a negative interval: the normalization "
            "lowers the measurement).",
            "",
            "| norm | lr | " + " | ".join(heads) + " |",
            "|---|---|" + "---|" * len(heads),
        ]
        for row in over_seeds["paired"]:
            cells = " | ".join(_diff(row[m]) for m in METRICS)
            md.append(f"| `{row['norm']}` | {row['lr']:g} | {cells} |")
    md += ["", f"![over seeds]({figure})", ""]
    return md


FIGURES = (
    ("curves", curves_figure),
    ("landscape", landscape_figure),
    ("ics", ics_figure),
    ("activations", activations_figure),
)


SPECTRUM_FIGURE = "spectrum"


def spectrum_figure(runs: list[dict[str, Any]]) -> tuple[bytes, bytes] | None:
    """The last spectrum probe's eigenvalue density of every run and mode (one panel per
    learning rate and mode, log scale, the bulk edge marked); ``None`` without spectra."""
    panels: dict[tuple[float, str], list] = {}
    for r in runs:
        last = [p for p in r["probes"] if "spectrum" in p]
        if not last:
            continue
        for mode, sp in last[-1]["spectrum"].items():
            panels.setdefault((r["config"]["lr"], mode), []).append((r, last[-1]["step"], sp))
    if not panels:
        return None
    keys = sorted(panels, key=lambda k: (k[0], k[1] != "train"))
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for r, step, sp in panels[key]:
            d = sp["density"]
            y = [max(v, 1e-9) for v in d["density"]]
            (line,) = ax.plot(d["grid"], y, lw=1, label=f"{r['config']['norm']} (step {step})")
            ax.axvline(sp["bulk_edge"], color=line.get_color(), ls=":", lw=0.8)
        ax.set_yscale("log")
        ax.set_title(f"Hessian eigenvalue density, lr {key[0]:g}, {key[1]} mode", fontsize=9)
        ax.set_xlabel("eigenvalue (dotted: bulk edge)")
        ax.set_ylabel("density")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return render(fig)


def spectrum_markdown(summaries: list[dict[str, Any]], figure: str) -> list[str]:
    """The spectrum section: per run and mode the medians of the spectrum probes."""
    md = [
        "## Hessian spectrum",
        "",
        "At each spectrum probe the batch loss's Hessian in training mode (batch statistics) "
        "and, for networks with running statistics, in eval mode: eigsh's top 10 eigenvalues "
        "and stochastic Lanczos quadrature (`bntheory.landscape.spectrum`). Bulk edge e: 99 % "
        "of the eigenvalues lie in [-e, e]; outliers: eigenvalues above 2e, their number and "
        "their share of tr(H²) by the SLQ measure; gradient share: the gradient's energy in "
        "the top-10 eigenspace. Medians over the probes after initialization.",
        "",
        "| norm | lr | mode | top eigenvalue | outliers | outlier mass | gradient share |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        for mode, m in (s.get("spectrum") or {}).items():
            md.append(
                f"| `{s['norm']}` | {s['lr']:g} | {mode} | {number(m['top_eigenvalue'])} | "
                f"{number(m['outlier_count'])} | {number(m['outlier_mass'])} | "
                f"{number(m['gradient_share'])} |"
            )
    return md + ["", f"![spectrum]({figure})", ""]


def write_landscape(
    out: ReportDir,
    prefix: str,
    preset: dict[str, Any],
    runs: list[dict[str, Any]],
    summaries: list[dict[str, Any]],
    meta: dict[str, Any],
    json_rel: str | None = None,
    over_seeds: dict[str, Any] | None = None,
    seed_runs: dict[int, list[dict[str, Any]]] | None = None,
) -> list[str]:
    """``{prefix}.md``, ``{prefix}-<figure>.png/.svg`` and the numbers as JSON (``json_rel``,
    default ``{prefix}.json``) under ``out``.  ``runs`` and ``summaries`` are one seed's;
    ``over_seeds`` (a sweep's aggregate of the preset: ``seeds``, ``summaries``, ``paired``,
    ``per_seed``) and ``seed_runs`` (every seed's runs) add the section over seeds and its
    figure with bands, ``{prefix}-seeds.png``."""
    json_rel = json_rel or f"{prefix}.json"
    written = []
    if seed_runs:
        png, svg = seeds_figure(seed_runs)
        for ext, data in (("png", png), ("svg", svg)):
            out.write(f"{prefix}-{SEED_FIGURE}.{ext}", data)
            written.append(f"{prefix}-{SEED_FIGURE}.{ext}")
    for name, fn in FIGURES:
        png, svg = fn(runs)
        for ext, data in (("png", png), ("svg", svg)):
            rel = f"{prefix}-{name}.{ext}"
            out.write(rel, data)
            written.append(rel)
    doc = {"schema": SCHEMA, "meta": meta, "preset": preset, "summaries": summaries, "runs": runs}
    if over_seeds is not None:
        doc["over_seeds"] = over_seeds
    out.write(json_rel, json.dumps(doc, indent=1) + "\n")
    base = prefix.rsplit("/", 1)[-1]
    md = [
        f"# Landscape: `{preset['name']}`",
        "",
        provenance_markdown(meta),
        "",
        preset["description"] + ".",
        "",
        "Every probe runs in training mode (BatchNorm uses batch statistics) on the step's batch, "
        "and "
        "restores parameters, running statistics and RNG afterwards. Numbers are medians over the "
        "probes "
        "after initialization.",
        "",
        "| norm | lr | diverged at | final test loss | test acc. | loss variation | predictiveness "
        "(max) "
        "| beta-smoothness | ICS l2 | ICS cos | top Hessian eigenvalue(s) | HVPs |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        md.append(
            f"| `{s['norm']}` | {s['lr']:g} | {number(s['diverged_at'])} | "
            f"{number(s['final_test_loss'])} | "
            f"{number(s['final_test_accuracy'])} | {number(s['loss_variation'])} | "
            f"{number(s['predictiveness_max'])} | "
            f"{number(s['beta_smoothness'])} | {number(s['ics_l2'])} | {number(s['ics_cos'])} | "
            f"{number(s['hessian_top'])} | {number(s['hvp_products'])} |"
        )
    md += [
        "",
        "Hessian eigenvalues: largest in magnitude, `scipy.sparse.linalg.eigsh` on Hessian-vector "
        "products of the batch loss in training mode (float64).",
        "",
    ]
    if over_seeds is not None:
        md += seeds_markdown(over_seeds, f"{base}-{SEED_FIGURE}.png")
        md += [
            f"## Seed {runs[0]['config']['seed'] if runs else ''}: one run per normalization",
            "",
        ]
    for name, _ in FIGURES:
        md += [f"![{name}]({base}-{name}.png)", ""]
    drawn = spectrum_figure(runs)
    if drawn is not None:
        for ext, data in zip(("png", "svg"), drawn):
            out.write(f"{prefix}-{SPECTRUM_FIGURE}.{ext}", data)
            written.append(f"{prefix}-{SPECTRUM_FIGURE}.{ext}")
        md += spectrum_markdown(summaries, f"{base}-{SPECTRUM_FIGURE}.png")
    link = posixpath.relpath(json_rel, posixpath.dirname(prefix) or ".")
    md += [f"All numbers: [`{link}`]({link})."]
    out.write(f"{prefix}.md", "\n".join(md) + "\n")
    return written + [json_rel, f"{prefix}.md"]
