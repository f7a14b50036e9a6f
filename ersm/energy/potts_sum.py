"""Grid energies of labellings and masks, compiled (Numba): one pass over tokens and edges.

``E(l) = Σ_i U_i(l_i) + Σ_(i,j) w_ij [l_i ≠ l_j]`` per map (Potts), and the binary
``E(m) = Σ_i θ_i m_i + Σ_(i,j) w_ij [m_i ≠ m_j]`` of a keep-mask. Each grid row is summed
on its own and the row sums are then added, so the rounding error grows with ``H + W``
rather than with ``H · W``.
"""

from __future__ import annotations

import numpy as np

from ..core.numba_cache import njit
from .edge_span import edge_span

__all__ = ["mask_energy_numpy", "potts_energy_map", "potts_energy_numpy"]


@njit(nogil=True, cache=True)
def potts_energy_map(unary, pairwise, labels):
    """``E(labels)`` of one map: ``unary (L, H, W)``, ``pairwise (K, H, W)`` float64,
    ``labels (H, W)`` int64 in ``[0, L)``; weights of edges leaving the grid are ignored."""
    H, W = labels.shape
    total = 0.0
    for y in range(H):
        row = 0.0
        for x in range(W):
            row += unary[labels[y, x], y, x]
        total += row
    return total + _cut_sum(pairwise, labels)


@njit(nogil=True, cache=True)
def _cut_sum(pairwise, labels):
    """``Σ_(i,j) w_ij [l_i ≠ l_j]`` of one map, ``labels (H, W)`` (int or bool), in row sums."""
    H, W = labels.shape
    total = 0.0
    for k in range(pairwise.shape[0]):
        dy, dx, x_lo, x_hi = edge_span(k, W)
        for y in range(H - dy):
            row = 0.0
            for x in range(x_lo, x_hi):
                if labels[y, x] != labels[y + dy, x + dx]:
                    row += pairwise[k, y, x]
            total += row
    return total


@njit(nogil=True, cache=True)
def _potts_energy_batch(unary, pairwise, labels, out):
    for b in range(labels.shape[0]):
        out[b] = potts_energy_map(unary[b], pairwise[b], labels[b])


def potts_energy_numpy(unary: np.ndarray, pairwise: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(B,)`` float64 energies of ``labels (B, H, W)`` for ``unary (B, L, H, W)`` and
    ``pairwise (B, K, H, W)`` (NumPy, any strides: float64 / int64 views are not copied)."""
    out = np.empty(labels.shape[0], dtype=np.float64)
    _potts_energy_batch(np.asarray(unary, dtype=np.float64),
                        np.asarray(pairwise, dtype=np.float64),
                        np.asarray(labels, dtype=np.int64), out)
    return out


@njit(nogil=True, cache=True)
def _mask_energy_batch(unary, pairwise, mask, out):
    for b in range(mask.shape[0]):
        total = 0.0
        for y in range(mask.shape[1]):
            row = 0.0
            for x in range(mask.shape[2]):
                if mask[b, y, x]:
                    row += unary[b, y, x]
            total += row
        out[b] = total + _cut_sum(pairwise[b], mask[b])


def mask_energy_numpy(unary: np.ndarray, pairwise: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(B,)`` float64 energies (no constant) of keep-masks ``mask (B, H, W)`` (bool or
    0/1) for ``unary (B, H, W)`` and ``pairwise (B, K, H, W)`` (NumPy, any strides)."""
    mask = np.asarray(mask)
    out = np.empty(mask.shape[0], dtype=np.float64)
    _mask_energy_batch(np.asarray(unary, dtype=np.float64), np.asarray(pairwise, dtype=np.float64),
                       mask if mask.dtype == np.bool_ else mask != 0, out)
    return out
