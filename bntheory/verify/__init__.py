"""Verification: the autograd oracle, the error model, comparisons and verdicts."""
