"""Lazy imports of optional dependencies with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ``ImportError`` telling which extra installs it.

    Example:
        >>> np = require("numpy", extra="core")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised when extras are missing
        raise ImportError(
            f"{module!r} is needed for this feature: pip install 'ersm[{extra}]'"
        ) from exc


def importable(module: str) -> bool:
    """True if ``module`` imports (any exception on import counts as not importable)."""
    try:
        importlib.import_module(module)
    except Exception:
        return False
    return True
