"""Writing report files: atomically, and only files the report owns.

``reports/`` may hold a user's own notes.  Every file the report writes is listed, with its
SHA-256, in ``.bntheory-manifest.json`` in the output directory.  A later run

* replaces a file listed in the manifest;
* refuses (``ReportConflictError``) to write over a file that exists but is not listed:
  it belongs to the user;
* keeps a listed file the user has edited since (its hash changed) as ``NAME.edited``
  before replacing it, and says so in the returned notes.

Each file is written to a temporary file in the same directory and moved into place with
``os.replace``, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from bntheory.atomic import atomic_write
from bntheory.errors import BNTheoryError

MANIFEST = ".bntheory-manifest.json"


class ReportConflictError(BNTheoryError, FileExistsError):
    """The report would overwrite a file it does not own."""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ReportDir:
    """An output directory with a manifest of the files the report owns."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.notes: list[str] = []
        manifest = self.root / MANIFEST
        self._owned: dict[str, str] = {}
        if manifest.exists():
            try:
                self._owned = json.loads(manifest.read_text())["files"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ReportConflictError(
                    f"{manifest} is not a bntheory manifest ({exc}); move it away"
                ) from None

    def check(self, relpath: str) -> None:
        """Raise if writing ``relpath`` would overwrite a file the report does not own."""
        target = self.root / relpath
        if target.exists() and relpath not in self._owned:
            raise ReportConflictError(
                f"{target} exists and was not written by bntheory report (it is not in "
                f"{MANIFEST}); "
                "move it or choose another --out directory"
            )

    def write(self, relpath: str, data: bytes | str) -> Path:
        """Write an owned file (see the module docstring for the rules)."""
        self.check(relpath)
        target = self.root / relpath
        if target.exists() and _sha(target) != self._owned[relpath]:
            backup = target.with_name(target.name + ".edited")
            os.replace(target, backup)
            self.notes.append(f"{target} was edited since the last report; kept it as {backup}")
        atomic_write(target, data)
        self._owned[relpath] = _sha(target)
        self._save()
        return target

    def _save(self) -> None:
        body = {"schema": 1, "files": dict(sorted(self._owned.items()))}
        atomic_write(self.root / MANIFEST, json.dumps(body, indent=1) + "\n")
