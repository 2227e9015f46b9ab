"""bntheory: a symbolic-numeric verification suite for the theory of normalization layers.

The layer API is loaded on first use (PEP 562), so ``import bntheory.symbolic`` does not
import torch.
"""

from __future__ import annotations

import os
from typing import Any

# Intel MKL (torch's CPU BLAS) otherwise rounds a dot product or a matrix product according to
# the memory alignment of its operands, so the same numbers differ between processes at the
# last bit (and a worst case of 4e-202 becomes 0).  Read at MKL's first call, which comes
# after this import; a user's own setting wins.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

from bntheory.errors import BNTheoryError

__version__ = "0.1.0"

_LAZY = {"Normalization", "get_layer", "layer_names", "register_layer", "unregister_layer"}

__all__ = ["BNTheoryError", "__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from bntheory import norms

        return getattr(norms, name)
    raise AttributeError(f"module 'bntheory' has no attribute {name!r}")
