"""Normalization layers: the protocol, the registry, and the built-in layers."""

from bntheory.norms.base import OPERATIONS, Normalization
from bntheory.norms.batchnorm import BatchNorm
from bntheory.norms.registry import get_layer, layer_names, register_layer, unregister_layer

register_layer(BatchNorm)

__all__ = ["OPERATIONS", "Normalization", "BatchNorm", "get_layer", "layer_names", "register_layer", "unregister_layer"]
