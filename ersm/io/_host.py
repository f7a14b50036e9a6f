"""Host NumPy copies that keep 0-d shapes (``np.ascontiguousarray`` makes them 1-d)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.arrays import is_torch


def host_array(x: Any, dtype: Any = None) -> np.ndarray:
    """``x`` (NumPy, torch on any device, scalar) as a NumPy array of the same shape."""
    if is_torch(x):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)
