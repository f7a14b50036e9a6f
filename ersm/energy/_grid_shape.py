"""What every grid energy says about its arrays (shared by ``GridEnergy`` and ``PottsEnergy``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.arrays import array_kind, is_torch, to_numpy


class GridArrays:
    """Shape, array type and device of an energy with batched ``unary`` (``(B, …, H, W)``)
    and ``pairwise`` (``(B, K, H, W)``) attributes and a ``batched`` flag."""

    unary: Any
    pairwise: Any
    batched: bool

    @property
    def batch_size(self) -> int:
        return int(self.unary.shape[0])

    @property
    def height(self) -> int:
        return int(self.unary.shape[-2])

    @property
    def width(self) -> int:
        return int(self.unary.shape[-1])

    @property
    def map_shape(self) -> tuple[int, ...]:
        """Shape of a mask or labelling: ``(B, H, W)``, or ``(H, W)`` if unbatched."""
        hw = (self.height, self.width)
        return (self.batch_size, *hw) if self.batched else hw

    @property
    def array_kind(self) -> str:
        """``"numpy"`` or ``"torch"``: the type results come back as."""
        return array_kind(self.unary)

    @property
    def device(self) -> Any:
        """torch device of the tensors, or ``"cpu"`` for NumPy arrays."""
        return self.unary.device if is_torch(self.unary) else "cpu"

    def numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """``(unary, pairwise)`` as C-contiguous float64 NumPy arrays."""
        return to_numpy(self.unary, np.float64), to_numpy(self.pairwise, np.float64)
