"""Conversions between NumPy arrays and torch tensors (same type out as in)."""

from __future__ import annotations

from typing import Any

import numpy as np


def is_torch(x: Any) -> bool:
    """True for a ``torch.Tensor`` (checked without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def array_kind(x: Any) -> str:
    """``"torch"`` for tensors, ``"numpy"`` for everything else."""
    return "torch" if is_torch(x) else "numpy"


def to_numpy(x: Any, dtype: Any = None) -> np.ndarray:
    """C-contiguous NumPy copy/view of ``x`` (tensors are detached and moved to host)."""
    if is_torch(x):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=dtype)


def like(x: np.ndarray, reference: Any, same_dtype: bool = False) -> Any:
    """Return ``x`` as the array type (and device) of ``reference``; with
    ``same_dtype`` also cast it to ``reference``'s dtype."""
    if is_torch(reference):
        import torch

        out = torch.from_numpy(np.ascontiguousarray(x)).to(reference.device)
        return out.to(reference.dtype) if same_dtype else out
    return np.asarray(x, dtype=reference.dtype) if same_dtype else x



def largest_magnitude(*arrays: Any) -> float:
    """``max |x|`` over NumPy arrays or torch tensors (0.0 if all are empty), without a
    host copy of a tensor."""
    largest = 0.0
    for x in arrays:
        if is_torch(x):
            value = float(x.abs().max()) if x.numel() else 0.0
        else:
            value = float(np.max(np.abs(x), initial=0.0))
        largest = max(largest, value)
    return largest
