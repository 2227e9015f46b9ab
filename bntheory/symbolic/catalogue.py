"""Find and run the executable proofs in ``proofs/``.

Each ``proofs/*.py`` file defines ``build() -> Proof``.  The directory is the repository's
``proofs/`` (next to the package) unless ``BNTHEORY_PROOFS`` or an explicit path says otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from bntheory.errors import InvalidArgumentError
from bntheory.symbolic.proof import Proof, ProofResult


def proofs_dir(path: str | os.PathLike | None = None) -> Path:
    """The proofs directory: ``path``, else ``$BNTHEORY_PROOFS``, else the checkout's ``proofs/``.

    Raises :class:`InvalidArgumentError` if that directory does not exist.
    """
    candidate = Path(
        path or os.environ.get("BNTHEORY_PROOFS") or Path(__file__).resolve().parents[2] / "proofs"
    )
    if not candidate.is_dir():
        raise InvalidArgumentError(
            f"proofs directory {candidate} does not exist; "
            "run from a checkout of bntheory or set BNTHEORY_PROOFS"
        )
    return candidate


def _natural(file: Path) -> tuple:
    """``p10_x.py`` after ``p9_y.py``: digit runs compare as numbers."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", file.stem))


def load_proofs(path: str | os.PathLike | None = None) -> list[Proof]:
    """Build every proof, in the order of the files' numbers (p1, p2, ..., p10)."""
    out = []
    for file in sorted(proofs_dir(path).glob("*.py"), key=_natural):
        spec = importlib.util.spec_from_file_location(f"bntheory_proofs.{file.stem}", file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "build"):
            raise InvalidArgumentError(f"{file} defines no build() -> Proof")
        out.append(module.build())
    return out


def select(proofs: list[Proof], names: list[str] | None) -> list[Proof]:
    """The proofs whose id is in ``names`` (all if None).

    Unknown names raise :class:`InvalidArgumentError`, listing the known ones.
    """
    if not names:
        return proofs
    by_id = {p.id: p for p in proofs}
    unknown = [n for n in names if n not in by_id]
    if unknown:
        raise InvalidArgumentError(
            f"unknown proof(s) {', '.join(map(repr, unknown))}; known proofs: {', '.join(by_id)}"
        )
    return [by_id[n] for n in names]


def run(proofs: list[Proof]) -> list[ProofResult]:
    """Run every proof in order (:meth:`Proof.run`) and return their results."""
    return [p.run() for p in proofs]
