"""Normalization layers: the protocol, the registry, and the built-in layers."""

from bntheory.norms.base import OPERATIONS, Normalization
from bntheory.norms.batchnorm import BatchNorm
from bntheory.norms.groupnorm import GroupNorm
from bntheory.norms.instancenorm import InstanceNorm
from bntheory.norms.layernorm import LayerNorm
from bntheory.norms.lpbatchnorm import LpBatchNorm
from bntheory.norms.noisybatchnorm import NoisyBatchNorm
from bntheory.norms.parametrizations import (
    get_parametrization,
    parametrizations,
    register_parametrization,
    weightnorm_forward,
)
from bntheory.norms.registry import get_layer, layer_names, register_layer, unregister_layer
from bntheory.norms.rmsnorm import RMSNorm

for _layer in (
    BatchNorm,
    LayerNorm,
    GroupNorm,
    InstanceNorm,
    RMSNorm,
    LpBatchNorm(1),
    LpBatchNorm(2),
    LpBatchNorm(float("inf")),
    NoisyBatchNorm,
):
    register_layer(_layer)

__all__ = [
    "OPERATIONS",
    "Normalization",
    "BatchNorm",
    "GroupNorm",
    "InstanceNorm",
    "LayerNorm",
    "LpBatchNorm",
    "NoisyBatchNorm",
    "RMSNorm",
    "get_layer",
    "layer_names",
    "register_layer",
    "unregister_layer",
    "get_parametrization",
    "parametrizations",
    "register_parametrization",
    "weightnorm_forward",
]
