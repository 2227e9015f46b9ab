"""Testing helpers: seeded batch families, Hypothesis strategies and the layer battery, for
this suite and for users' own layers.

``check_layer`` is imported lazily (it needs torch and the registry)."""

from __future__ import annotations

from typing import Any

__all__ = ["check_layer", "LayerCheckError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from bntheory.verify import battery

        return getattr(battery, name)
    raise AttributeError(f"module 'bntheory.testing' has no attribute {name!r}")
