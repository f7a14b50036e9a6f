"""Input checks shared by the energy model, the solvers and the nets.

Every check names the argument and says what was expected. Errors are
``ValueError`` (bad shape/values) or ``TypeError`` (bad type/dtype) subclasses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import is_torch
from .errors import DTypeError, ShapeError, ValueRangeError


def array_shape(x: Any) -> tuple[int, ...]:
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


def check_mask(mask: Any, shape: tuple[int, ...], name: str = "mask") -> Any:
    """Check a mask/marginal array has the energy's (batched or unbatched) shape."""
    mask = check_array_like(mask, name)
    if array_shape(mask) != tuple(shape):
        raise ShapeError(f"{name} must have shape {tuple(shape)}, got {array_shape(mask)}")
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
