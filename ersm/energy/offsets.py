"""The one place that defines the grid-edge convention.

``pairwise[b, k, y, x]`` is the weight of the undirected edge between token
``(y, x)`` and token ``(y + dy_k, x + dx_k)`` where ``(dy_k, dx_k) = OFFSETS[k]``:

====  ===========  =====================
k     offset       edge
====  ===========  =====================
0     (0, +1)      right neighbour
1     (+1, 0)      neighbour below
2     (+1, +1)     down-right diagonal    (8-connectivity only)
3     (+1, -1)     down-left diagonal     (8-connectivity only)
====  ===========  =====================

4-connectivity uses ``K = 2`` channels, 8-connectivity ``K = 4``. A weight whose
edge leaves the grid (e.g. ``k = 0`` in the last column) is ignored everywhere.
"""

from __future__ import annotations

import numpy as np

OFFSETS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (1, 1), (1, -1))
"""``(dy, dx)`` per edge channel ``k``."""

CONNECTIVITY_TO_K: dict[int, int] = {4: 2, 8: 4}
K_TO_CONNECTIVITY: dict[int, int] = {2: 4, 4: 8}


def num_channels(connectivity: int) -> int:
    """Number of pairwise channels ``K`` for a connectivity (4 → 2, 8 → 4)."""
    if connectivity not in CONNECTIVITY_TO_K:
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    return CONNECTIVITY_TO_K[connectivity]


def offsets(connectivity: int) -> np.ndarray:
    """``(K, 2)`` int64 array of ``(dy, dx)`` offsets for a connectivity."""
    return np.asarray(OFFSETS[: num_channels(connectivity)], dtype=np.int64)


def valid_edge_mask(height: int, width: int, connectivity: int) -> np.ndarray:
    """``(K, H, W)`` bool: True where edge ``k`` from ``(y, x)`` stays inside the grid."""
    offs = offsets(connectivity)
    ys = np.arange(height)[:, None]
    xs = np.arange(width)[None, :]
    out = np.empty((len(offs), height, width), dtype=bool)
    for k, (dy, dx) in enumerate(offs):
        out[k] = (ys + dy >= 0) & (ys + dy < height) & (xs + dx >= 0) & (xs + dx < width)
    return out


def edge_slices(k: int, height: int, width: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices ``(src, dst)`` over ``(H, W)`` so that ``a[src]`` and ``b[dst]`` pair the two
    ends of every in-grid edge of channel ``k``."""
    dy, dx = OFFSETS[k]
    ys_src = slice(0, height - dy) if dy >= 0 else slice(-dy, height)
    ys_dst = slice(dy, height) if dy >= 0 else slice(0, height + dy)
    xs_src = slice(0, width - dx) if dx >= 0 else slice(-dx, width)
    xs_dst = slice(dx, width) if dx >= 0 else slice(0, width + dx)
    return (ys_src, xs_src), (ys_dst, xs_dst)
