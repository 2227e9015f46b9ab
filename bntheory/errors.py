"""Exception types: one per kind of misuse.

Every message names the offending argument and its value, so a user can fix the call
without reading the source.  All types derive from :class:`BNTheoryError` and from the
built-in exception a Python user would expect (``ValueError``, ``KeyError``), so existing
``except ValueError`` handlers keep working.
"""

from __future__ import annotations


class BNTheoryError(Exception):
    """Base class of every error this package raises on purpose."""


class UnknownLayerError(BNTheoryError, KeyError):
    """A layer name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class DuplicateLayerError(BNTheoryError, ValueError):
    """Registering a second layer under a name that is taken."""


class ShapeMismatchError(BNTheoryError, ValueError):
    """A tensor whose shape does not fit the input (weight, bias, running stats, g, v)."""


class BatchTooSmallError(BNTheoryError, ValueError):
    """A normalization group with a single value in training mode."""


class ZeroVarianceError(BNTheoryError, ZeroDivisionError):
    """A group with zero variance while ``eps = 0``: the normalization divides by zero."""


class NonFiniteInputError(BNTheoryError, ValueError):
    """NaN or Inf in an input tensor."""


class InvalidArgumentError(BNTheoryError, ValueError):
    """An argument outside its domain (negative eps, wrong dtype, missing running stats, ...)."""


class DataError(BNTheoryError, ValueError):
    """A data set is missing, malformed or unusable (the message names the path or the field)."""
