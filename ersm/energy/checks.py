"""Validation of a unary/pairwise pair against the grid-edge convention."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.arrays import is_torch
from ..core.checks import array_shape, check_array_like, check_finite, check_real_dtype
from ..core.errors import DTypeError, ShapeError, ValueRangeError
from .offsets import K_TO_CONNECTIVITY, num_channels

DTYPE_RULE = """\
Canonical dtypes, applied once when an energy is built (every backend sees the same):

* NumPy float16, float32, float64 and integer arrays are kept;
* NumPy ``longdouble`` (and any float wider than 64 bits) is rounded to float64; a
  finite value beyond the float64 range raises ValueRangeError naming the argument;
* non-native byte order (e.g. big-endian ``>f8`` on x86) becomes native, same values;
* torch float16 and bfloat16 tensors become float32 (differentiable, same device);
  other torch dtypes are kept.
"""


def canonical_dtype(x: Any, name: str) -> Any:
    """``x`` in the canonical dtype of :data:`DTYPE_RULE` (no copy when it already is).

    Args:
        x: a NumPy array or torch tensor of a real dtype.
        name: the argument's name, for error messages.

    Raises:
        ValueRangeError: a longdouble value is finite but overflows float64.
    """
    if is_torch(x):
        import torch

        return x.to(torch.float32) if x.dtype in (torch.float16, torch.bfloat16) else x
    if x.dtype.kind == "f" and x.dtype.itemsize > 8:
        with np.errstate(over="ignore"):
            out = x.astype(np.float64)
        if not np.isfinite(out).all() and np.isfinite(x).all():
            biggest = np.abs(x).max()
            raise ValueRangeError(
                f"{name} holds {np.format_float_scientific(biggest, precision=6)} ({x.dtype}), "
                f"beyond the float64 range "
                f"(max {np.finfo(np.float64).max:.6g}); energies are computed in float64"
            )
        return out
    if not x.dtype.isnative:
        return x.astype(x.dtype.newbyteorder("="))
    return x


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
        their type and device, dtypes follow :data:`DTYPE_RULE` (:func:`canonical_dtype`).
    """
    unary = check_array_like(unary, "unary")
    pairwise = check_array_like(pairwise, "pairwise")
    check_real_dtype(unary, "unary")
    check_real_dtype(pairwise, "pairwise")
    unary = canonical_dtype(unary, "unary")
    pairwise = canonical_dtype(pairwise, "pairwise")
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
