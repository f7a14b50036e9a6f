"""Readable NumPy mean-field: the oracle every other implementation is tested against.

Written for clarity, not speed: the neighbour field is rebuilt from the edge channels of
:mod:`ersm.energy.offsets` for every colour class. Semantics are described in
:mod:`ersm.solvers.kernels.meanfield._common`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ....energy.offsets import K_TO_CONNECTIVITY, edge_slices
from ._common import MeanFieldOptions, colour_classes


def neighbour_field(pairwise: np.ndarray, spin: np.ndarray) -> np.ndarray:
    """``Σ_j w_ij s_j`` over the in-grid neighbours ``j`` of every token, ``(B, H, W)``.

    Args:
        pairwise: ``(B, K, H, W)`` edge weights (off-grid ones are ignored).
        spin: ``(B, H, W)`` values ``s_j`` (here ``1 − 2 q_j``).
    """
    _, n_k, height, width = pairwise.shape
    field = np.zeros_like(spin)
    for k in range(n_k):
        (ys, xs), (yd, xd) = edge_slices(k, height, width)
        w = pairwise[:, k, ys, xs]
        field[:, ys, xs] += w * spin[:, yd, xd]  # edge seen from its source…
        field[:, yd, xd] += w * spin[:, ys, xs]  # …and from its destination
    return field


def meanfield_numpy(unary: np.ndarray, pairwise: np.ndarray, q0: np.ndarray,
                    options: MeanFieldOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean-field iterations in NumPy (float32 stays float32, float64 stays float64).

    Args:
        unary: ``(B, H, W)`` θ in the working dtype.
        pairwise: ``(B, K, H, W)`` weights, same dtype.
        q0: ``(B, H, W)`` initial marginals, same dtype (not modified).
        options: validated options.

    Returns:
        ``(q (B, H, W), iterations (B,) int64, converged (B,) bool)``.
    """
    batch, height, width = unary.shape
    dtype = unary.dtype.type
    inv_t, alpha = dtype(1 / options.temperature), dtype(options.damping)
    colours = colour_classes(height, width, K_TO_CONNECTIVITY[pairwise.shape[1]],
                             options.schedule)
    q = q0.copy()
    iterations = np.zeros(batch, np.int64)
    converged = np.zeros(batch, bool)
    for _ in range(options.iters):
        active = ~converged
        if not active.any():
            break
        delta = np.zeros(batch, q.dtype)
        for colour in colours:
            field = neighbour_field(pairwise, 1 - 2 * q)
            target = expit(-(unary + field) * inv_t)
            new = (1 - alpha) * q + alpha * target
            update = colour[None] & active[:, None, None]
            change = np.where(update, np.abs(new - q), 0)
            delta = np.maximum(delta, change.max(axis=(1, 2), initial=0))
            q = np.where(update, new, q)
        iterations += active
        converged |= active & (delta < options.tol)
    return q, iterations, converged
