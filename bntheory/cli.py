"""The ``bntheory`` command.

    bntheory layers [--json]                 list registered layers and what each provides
    bntheory report [--out DIR] [--seed N] [--device cpu|cuda] [--layer NAME ...]

The CLI is the only place that prints, draws progress bars and writes files.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from tqdm import tqdm

from bntheory.errors import BNTheoryError


def _layers(args: argparse.Namespace) -> int:
    from bntheory.norms import get_layer, layer_names

    rows = [{"name": n, "title": get_layer(n).title, **get_layer(n).provides()} for n in layer_names()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    cols = ["name", "title", "symbolic", "jvp", "vjp", "hvp", "torch_counterpart"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    print("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    return 0


def _report(args: argparse.Namespace) -> int:
    import torch

    from bntheory.norms import get_layer, layer_names
    from bntheory.report.files import ReportDir
    from bntheory.report.layers import write_layers
    from bntheory.report.meta import provenance
    from bntheory.verify.closed_forms import ERROR_MODEL_SUMMARY, measure_layer

    if args.device == "cuda" and not torch.cuda.is_available():
        raise BNTheoryError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    names = args.layer or layer_names()
    layers = [get_layer(n) for n in names]  # unknown names fail before any work
    out = ReportDir(args.out)
    for rel in ("layers.md", "data/layers.json"):
        out.check(rel)  # refuse before the long run, not after
    meta = provenance(["bntheory"] + list(args.argv), args.seed, args.device)
    summaries = []
    for layer in layers:
        bar = lambda it, n=layer.name: tqdm(list(it), desc=f"closed forms: {n}", unit="case", file=sys.stderr)  # noqa: E731
        summaries.append(measure_layer(layer, seed=args.seed, device=args.device, progress=bar).to_json())
    written = write_layers(out, summaries, meta, ERROR_MODEL_SUMMARY)
    for note in out.notes:
        print(f"note: {note}", file=sys.stderr)
    failures = sum(op["failures"] for s in summaries for op in s["ops"])
    for rel in written:
        print(f"wrote {out.root / rel}")
    if failures:
        print(f"error: {failures} closed-form comparisons exceeded the error model; see {out.root / 'layers.md'}",
              file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bntheory", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("layers", help="list registered layers and what each provides")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_layers)

    p = sub.add_parser("report", help="measure and write the report under --out")
    p.add_argument("--out", default="reports", help="output directory (default: reports)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default: 0)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device (default: cpu)")
    p.add_argument("--layer", action="append", metavar="NAME", help="only this layer (repeatable)")
    p.set_defaults(func=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except BNTheoryError as exc:
        print(f"bntheory: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
