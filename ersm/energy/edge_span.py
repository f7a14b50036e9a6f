"""Where the edges of one pairwise channel lie on an ``H × W`` grid (Numba helper).

Channel ``k`` joins ``(y, x)`` to ``(y + dy, x + dx)`` (:data:`ersm.energy.offsets.OFFSETS`,
``dy ≥ 0``); its in-grid edges start at ``0 ≤ y < H − dy`` and ``x_lo ≤ x < x_hi``.
"""

from __future__ import annotations

import numpy as np

from ..core.numba_cache import njit
from .offsets import OFFSETS

__all__ = ["edge_span"]

_DY = np.array([o[0] for o in OFFSETS], dtype=np.int64)
_DX = np.array([o[1] for o in OFFSETS], dtype=np.int64)


@njit(nogil=True, cache=True, inline="always")
def edge_span(k, W):
    """``(dy, dx, x_lo, x_hi)`` of channel ``k`` on a grid ``W`` wide: the edges of ``k``
    start at the tokens ``(y, x)`` with ``y < H − dy`` and ``x_lo ≤ x < x_hi``."""
    dx = _DX[k]
    x_lo = 0 if dx >= 0 else -dx
    x_hi = W - dx if dx >= 0 else W
    return _DY[k], dx, x_lo, x_hi
