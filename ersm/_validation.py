"""Input validation shared by the energy model and every solver.

Every check names the argument and says what was expected. Errors are
``ValueError`` (bad shape/values) or ``TypeError`` (bad type/dtype) subclasses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import is_torch
from .energy.offsets import K_TO_CONNECTIVITY, num_channels


class ShapeError(ValueError):
    """An array has the wrong number of dimensions or mismatched sizes."""


class ValueRangeError(ValueError):
    """An array holds NaN/inf, or values an operation cannot accept (e.g. negative weights)."""


class DTypeError(TypeError):
    """An array has a dtype the library does not accept."""


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in x.shape)


def check_array_like(x: Any, name: str) -> Any:
    """Accept a NumPy array, torch tensor, or nested sequence; return an array or tensor."""
    if is_torch(x):
        return x
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)) or (np.isscalar(x) and not isinstance(x, (str, bytes))):
        return np.asarray(x)
    raise DTypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")


def check_real_dtype(x: Any, name: str) -> None:
    """Reject bool, complex and non-numeric dtypes."""
    if is_torch(x):
        ok = x.dtype.is_floating_point or (not x.dtype.is_complex and x.dtype != _torch_bool())
    else:
        ok = x.dtype.kind in "fiu"
    if not ok:
        raise DTypeError(f"{name} must have a real floating or integer dtype, got {x.dtype}")


def _torch_bool() -> Any:
    import torch

    return torch.bool


def check_finite(x: Any, name: str) -> None:
    """Raise if ``x`` holds NaN or inf."""
    if is_torch(x):
        import torch

        # a finite sum proves every element finite (NaN/inf propagate) and is several
        # times cheaper than isfinite().all(); an overflowing sum falls back to the test
        finite = (not x.is_floating_point() or bool(torch.isfinite(x.detach().sum()))
                  or bool(torch.isfinite(x).all()))
    else:
        finite = bool(np.isfinite(x).all()) if x.dtype.kind == "f" else True
    if not finite:
        raise ValueRangeError(f"{name} contains NaN or inf")


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
        raise ShapeError(f"unary must have shape (B, H, W) or (H, W), got {_shape(unary)}")
    batched = unary.ndim == 3
    if pairwise.ndim != unary.ndim + 1:
        want = "(B, K, H, W)" if batched else "(K, H, W)"
        raise ShapeError(
            f"pairwise must have shape {want} to match unary {_shape(unary)}, got {_shape(pairwise)}"
        )
    if not batched:
        unary, pairwise = unary[None], pairwise[None]
    b, h, w = _shape(unary)
    k = int(pairwise.shape[1])
    if connectivity is None:
        if k not in K_TO_CONNECTIVITY:
            raise ShapeError(f"pairwise must have K = 2 (4-conn) or 4 (8-conn) channels, got K={k}")
        connectivity = K_TO_CONNECTIVITY[k]
    expected_k = num_channels(connectivity)
    if _shape(pairwise) != (b, expected_k, h, w):
        raise ShapeError(
            f"pairwise must have shape (B, K, H, W) = {(b, expected_k, h, w)} for unary "
            f"{_shape(unary)} and connectivity={connectivity}, got {_shape(pairwise)}"
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


def check_mask(mask: Any, shape: tuple[int, ...], name: str = "mask") -> Any:
    """Check a mask/marginal array has the energy's (batched or unbatched) shape."""
    mask = check_array_like(mask, name)
    if _shape(mask) != tuple(shape):
        raise ShapeError(f"{name} must have shape {tuple(shape)}, got {_shape(mask)}")
    return mask


def check_nonnegative(pairwise: Any, name: str = "pairwise", why: str = "") -> None:
    """Raise if any weight is negative (non-submodular energy)."""
    neg = bool((pairwise < 0).any())
    if neg:
        hint = f" ({why})" if why else ""
        raise ValueRangeError(
            f"{name} has negative weights: the energy is not submodular{hint}; "
            f"weights are never clipped silently"
        )
