"""``GraphCutState``: the reusable residual graph of a ``graphcut`` solve (warm starts).

Obtain one with ``ersm.solve(energy, backend="graphcut", keep_state=True).info["state"]``
and pass it (or the :class:`~ersm.solvers.result.SolveResult` itself) back as
``warm_start=`` when solving a slightly changed energy of the same shape
(dynamic graph cuts, Kohli & Torr). The state is opaque; its arrays are owned by it
and never modified by a warm start, so one state may seed several solves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class GraphCutState:
    """Final residual graph of a ``graphcut`` solve, plus the energy it belongs to.

    Attributes:
        unary: ``(B, H, W)`` float64 copy of the solved energy's unaries.
        pairwise: ``(B, K, H, W)`` float64 copy of its pairwise weights.
        res: ``(B, (H+2)*(W+2)*2K)`` float64 grid-arc residuals in the kernel's padded
            layout (see :mod:`ersm.solvers.kernels.bk`).
        tr: ``(B, (H+2)*(W+2))`` float64 signed terminal residuals (same layout).
        shape: ``(B, H, W)`` of the solved (batched) energy.
        connectivity: 4 or 8.
    """

    unary: np.ndarray = field(repr=False)
    pairwise: np.ndarray = field(repr=False)
    res: np.ndarray = field(repr=False)
    tr: np.ndarray = field(repr=False)
    shape: tuple[int, int, int]
    connectivity: int

    @property
    def nbytes(self) -> int:
        """Memory held by the state's arrays."""
        return sum(a.nbytes for a in (self.unary, self.pairwise, self.res, self.tr))

    def check_compatible(self, shape: tuple[int, ...], connectivity: int) -> None:
        """Raise ``ValueError`` unless an energy of (batched) ``shape`` ``(B, H, W)`` and
        ``connectivity`` can be warm-started from this state."""
        shape = tuple(int(s) for s in shape)
        if shape != tuple(self.shape) or int(connectivity) != self.connectivity:
            raise ValueError(
                f"warm_start state was computed for an energy of shape {tuple(self.shape)} "
                f"(B, H, W) with connectivity {self.connectivity}, but the energy being "
                f"solved has shape {shape} with connectivity {int(connectivity)}; a warm "
                f"start needs the same batch size, grid and connectivity"
            )


def as_state(warm_start: Any) -> GraphCutState:
    """The :class:`GraphCutState` given as ``warm_start=`` (a state or a SolveResult)."""
    if isinstance(warm_start, GraphCutState):
        return warm_start
    info = getattr(warm_start, "info", None)
    if isinstance(info, dict) and hasattr(warm_start, "mask"):  # a SolveResult
        state = info.get("state")
        if isinstance(state, GraphCutState):
            return state
        raise ValueError(
            "warm_start is a SolveResult without a graphcut state; solve the previous "
            "energy with backend='graphcut', keep_state=True"
        )
    raise TypeError(
        "warm_start must be a GraphCutState or a SolveResult of "
        f"ersm.solve(..., backend='graphcut', keep_state=True), got {type(warm_start).__name__}"
    )
