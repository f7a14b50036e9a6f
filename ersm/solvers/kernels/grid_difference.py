"""The grid difference operator ``D`` and its adjoint, in torch (any device, differentiable).

``(D q)[:, k, y, x] = q(y, x) − q((y, x) + OFFSETS[k])`` on in-grid edges and 0 on edges
that leave the grid (the layout of :mod:`ersm.energy.offsets`), so that
``Σ_k Σ_(y,x) w_k |D q|`` is the pairwise total variation and, for a 0/1 mask ``m``,
``|D m|`` is the cut indicator ``[m_i ≠ m_j]``.

Operator norm (used for the primal–dual step sizes of :mod:`.tv`):
``‖D‖² = λ_max(DᵀD)`` and ``DᵀD`` is the graph Laplacian. Extending ``q`` by zeros to
the infinite grid can only add edges, so ``‖D‖`` is at most the norm of the
infinite-grid operator, a convolution whose squared symbol at frequencies ``(a, b)`` is

* 4-connectivity: ``(2 − 2 cos a) + (2 − 2 cos b) ≤ 8``;
* 8-connectivity: the same plus ``(2 − 2 cos(a + b)) + (2 − 2 cos(a − b))``, i.e.
  ``8 − 2x − 2y − 4xy`` with ``x = cos a``, ``y = cos b``; bilinear in ``(x, y)``, so its
  maximum over ``[−1, 1]²`` sits at a corner: ``12`` at ``(x, y) = (−1, 1)``.

Hence ``‖D‖² ≤ 8`` (4-conn) and ``≤ 12`` (8-conn), tighter than the generic
``2 · max degree`` (8 and 16); :func:`operator_norm_sq` returns these bounds and the
tests check them against power iteration.
"""

from __future__ import annotations

from typing import Any

from ...energy.offsets import K_TO_CONNECTIVITY, OFFSETS, valid_edge_mask

_NORM_SQ_BOUND = {4: 8.0, 8: 12.0}


def operator_norm_sq(connectivity: int) -> float:
    """Upper bound on ``‖D‖²`` for any grid size: 8 (4-conn) or 12 (8-conn)."""
    return _NORM_SQ_BOUND[connectivity]


def valid_edges(pairwise: Any) -> Any:
    """``(K, H, W)`` tensor of the pairwise dtype and device: 1 on in-grid edges, else 0."""
    import torch

    n_k, height, width = pairwise.shape[-3:]
    valid = valid_edge_mask(height, width, K_TO_CONNECTIVITY[n_k])
    return torch.as_tensor(valid, dtype=pairwise.dtype, device=pairwise.device)


def _neighbour(x: Any, dy: int, dx: int) -> Any:
    """``out[:, y, x] = x[:, y + dy, x + dx]`` (0 outside the grid), out of place."""
    import torch.nn.functional as F

    height, width = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1))
    return padded[:, 1 + dy:1 + dy + height, 1 + dx:1 + dx + width]


def grid_difference(q: Any, valid: Any) -> Any:
    """``D q``: ``(B, H, W)`` → ``(B, K, H, W)`` differences along each edge channel.

    Args:
        q: ``(B, H, W)`` tensor.
        valid: ``(K, H, W)`` from :func:`valid_edges` (0 off-grid).
    """
    import torch

    diffs = [q - _neighbour(q, *OFFSETS[k]) for k in range(valid.shape[0])]
    return torch.stack(diffs, dim=1) * valid


def grid_divergence(p: Any, valid: Any) -> Any:
    """``Dᵀ p``: ``(B, K, H, W)`` → ``(B, H, W)``, the adjoint of :func:`grid_difference`.

    ``(Dᵀ p)(i) = Σ_k p_k(i) − Σ_k p_k(i − offset_k)``.
    """
    p = p * valid
    out = p.sum(dim=1)
    for k in range(p.shape[1]):
        dy, dx = OFFSETS[k]
        out = out - _neighbour(p[:, k], -dy, -dx)
    return out
