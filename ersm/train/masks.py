"""Deprecated: the mask export moved to :mod:`ersm.jobs.export` (inference, not training).

``from ersm.train.masks import export_masks`` still works and warns.
"""

from __future__ import annotations

import warnings
from typing import Any

_MOVED = ("MASK_KEYS", "export_masks", "object_token_masks", "summarize_masks")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(f"ersm.train.masks.{name} moved to ersm.jobs.export.{name}",
                      DeprecationWarning, stacklevel=2)
        from ..jobs import export

        return getattr(export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__: list[str] = []
