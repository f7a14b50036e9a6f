"""Public error types raised by ersm's checks.

``ShapeError`` and ``ValueRangeError`` are ``ValueError`` subclasses; ``DTypeError`` is a
``TypeError`` subclass. Messages name the argument and what was expected.
"""

from .core.errors import DTypeError, ShapeError, ValueRangeError

__all__ = ["DTypeError", "ShapeError", "ValueRangeError"]
