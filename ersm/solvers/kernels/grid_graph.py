"""Explicit edge lists of one grid map, for adapters to general-graph max-flow codes."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...energy.offsets import edge_slices


def grid_edges(pairwise: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-grid edges of one map.

    Args:
        pairwise: ``(K, H, W)`` weights.

    Returns:
        ``(i, j, w)``: flat token indices ``(E,)`` int64 of both ends and weights ``(E,)``.
    """
    n_k, height, width = pairwise.shape
    index = np.arange(height * width, dtype=np.int64).reshape(height, width)
    src, dst, wts = [], [], []
    for k in range(n_k):
        (ys, xs), (yd, xd) = edge_slices(k, height, width)
        src.append(index[ys, xs].ravel())
        dst.append(index[yd, xd].ravel())
        wts.append(pairwise[k, ys, xs].ravel())
    return np.concatenate(src), np.concatenate(dst), np.concatenate(wts)


def terminal_capacities(unary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(source_cap, sink_cap)`` flat: ``max(θ, 0)`` (paid when kept) and ``max(−θ, 0)``.

    Kept tokens are on the sink side of the cut.
    """
    theta = unary.ravel()
    return np.maximum(theta, 0), np.maximum(-theta, 0)


def solve_each_map(map_solver: Callable[[np.ndarray, np.ndarray], np.ndarray],
                   unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """Apply a one-map solver ``(H, W), (K, H, W) -> (H, W) bool`` to every map of a batch.

    Returns:
        ``(B, H, W)`` bool masks.
    """
    mask = np.zeros(unary.shape, dtype=bool)
    for b in range(unary.shape[0]):
        mask[b] = map_solver(unary[b], pairwise[b])
    return mask
