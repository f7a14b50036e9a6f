"""Validation of a unary/pairwise pair against the grid-edge convention."""

from __future__ import annotations

from typing import Any

from ..core.arrays import is_torch
from ..core.checks import array_shape, check_array_like, check_finite, check_real_dtype
from ..core.errors import DTypeError, ShapeError
from .offsets import K_TO_CONNECTIVITY, num_channels


def check_energy_arrays(
    unary: Any, pairwise: Any, connectivity: int | None
) -> tuple[Any, Any, int, bool]:
    """Validate a unary/pairwise pair and return them batched.

    Args:
        unary: ``(B, H, W)`` or ``(H, W)``.
        pairwise: ``(B, K, H, W)`` or ``(K, H, W)`` with ``K = 2`` (4-conn) or ``4`` (8-conn).
        connectivity: 4, 8, or None to infer it from ``K``.

    Returns:
        ``(unary (B,H,W), pairwise (B,K,H,W), connectivity, batched)``; arrays keep
        their type, dtype and device.
    """
    unary = check_array_like(unary, "unary")
    pairwise = check_array_like(pairwise, "pairwise")
    check_real_dtype(unary, "unary")
    check_real_dtype(pairwise, "pairwise")
    if unary.ndim not in (2, 3):
        raise ShapeError(f"unary must have shape (B, H, W) or (H, W), got {array_shape(unary)}")
    batched = unary.ndim == 3
    if pairwise.ndim != unary.ndim + 1:
        want = "(B, K, H, W)" if batched else "(K, H, W)"
        raise ShapeError(
            f"pairwise must have shape {want} to match unary {array_shape(unary)}, got {array_shape(pairwise)}"
        )
    if not batched:
        unary, pairwise = unary[None], pairwise[None]
    b, h, w = array_shape(unary)
    k = int(pairwise.shape[1])
    if connectivity is None:
        if k not in K_TO_CONNECTIVITY:
            raise ShapeError(f"pairwise must have K = 2 (4-conn) or 4 (8-conn) channels, got K={k}")
        connectivity = K_TO_CONNECTIVITY[k]
    expected_k = num_channels(connectivity)
    if array_shape(pairwise) != (b, expected_k, h, w):
        raise ShapeError(
            f"pairwise must have shape (B, K, H, W) = {(b, expected_k, h, w)} for unary "
            f"{array_shape(unary)} and connectivity={connectivity}, got {array_shape(pairwise)}"
        )
    if h == 0 or w == 0:
        raise ShapeError(f"unary must describe a non-empty grid, got H={h}, W={w}")
    if is_torch(unary) != is_torch(pairwise):
        raise DTypeError("unary and pairwise must both be numpy arrays or both torch tensors")
    if is_torch(unary) and unary.device != pairwise.device:
        raise ValueError(
            f"unary and pairwise must be on one device, got {unary.device} and {pairwise.device}"
        )
    check_finite(unary, "unary")
    check_finite(pairwise, "pairwise")
    return unary, pairwise, connectivity, batched
