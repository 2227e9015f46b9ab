"""The catalogue: every claim the suite judges, discovered from ``bntheory.claims.catalogue``.

Each module of that package defines ``CLAIMS`` (a tuple of
:class:`~bntheory.claims.model.Claim`) and may define ``ORDER`` (default 100): modules are
read in ``(ORDER, name)`` order, which is the order of every table and file.  Adding a claim
is adding a module there; nothing else names it.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from bntheory.claims.model import Claim
from bntheory.errors import InvalidArgumentError


@functools.lru_cache(maxsize=1)
def claims() -> tuple[Claim, ...]:
    """Every catalogued claim, in catalogue order (ids are unique)."""
    from bntheory.claims import catalogue

    modules = [
        importlib.import_module(f"{catalogue.__name__}.{info.name}")
        for info in pkgutil.iter_modules(catalogue.__path__)
    ]
    return collect(modules)


def collect(modules) -> tuple[Claim, ...]:
    """The claims of catalogue ``modules`` in ``(ORDER, name)`` order; InvalidArgumentError
    for a module without ``CLAIMS`` or an id defined twice."""
    modules = sorted(modules, key=lambda mod: (getattr(mod, "ORDER", 100), mod.__name__))
    out: list[Claim] = []
    for mod in modules:
        if not hasattr(mod, "CLAIMS"):
            raise InvalidArgumentError(f"catalogue module {mod.__name__} defines no CLAIMS")
        out.extend(mod.CLAIMS)
    seen: set[str] = set()
    for c in out:
        if c.id in seen:
            raise InvalidArgumentError(f"claim id {c.id!r} is defined twice in the catalogue")
        seen.add(c.id)
    return tuple(out)


def get_claim(claim_id: str) -> Claim:
    """The claim with id ``claim_id`` (InvalidArgumentError naming the known ids otherwise)."""
    for c in claims():
        if c.id == claim_id:
            return c
    known = ", ".join(c.id for c in claims())
    raise InvalidArgumentError(f"unknown claim {claim_id!r}; known: {known}")
