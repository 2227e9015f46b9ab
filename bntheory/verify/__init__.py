"""Verification of layers: the autograd oracle, the error model, comparisons and the battery."""
