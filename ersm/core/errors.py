"""The public error types (re-exported as :mod:`ersm.errors`).

Every check in ersm names the argument and says what was expected. Shape and value
problems raise ``ValueError`` subclasses, type and dtype problems ``TypeError`` subclasses,
so ``except ValueError`` keeps working for callers who do not import these.
"""

from __future__ import annotations


class ShapeError(ValueError):
    """An array has the wrong number of dimensions or mismatched sizes."""


class ValueRangeError(ValueError):
    """An array holds NaN/inf, or values an operation cannot accept (e.g. negative weights)."""


class DTypeError(TypeError):
    """An array has a dtype the library does not accept."""
