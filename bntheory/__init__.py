"""bntheory: a symbolic-numeric verification suite for the theory of normalization layers."""

from bntheory.errors import BNTheoryError
from bntheory.norms import Normalization, get_layer, layer_names, register_layer, unregister_layer

__version__ = "0.1.0"

__all__ = [
    "BNTheoryError",
    "Normalization",
    "get_layer",
    "layer_names",
    "register_layer",
    "unregister_layer",
    "__version__",
]
