"""bntheory: a symbolic-numeric verification suite for the theory of normalization layers.

The layer API is loaded on first use (PEP 562), so ``import bntheory.symbolic`` does not
import torch.
"""

from __future__ import annotations

from typing import Any

from bntheory.errors import BNTheoryError

__version__ = "0.1.0"

_LAZY = {"Normalization", "get_layer", "layer_names", "register_layer", "unregister_layer"}

__all__ = ["BNTheoryError", "__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from bntheory import norms

        return getattr(norms, name)
    raise AttributeError(f"module 'bntheory' has no attribute {name!r}")
