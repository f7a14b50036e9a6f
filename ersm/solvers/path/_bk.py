"""The one import of the grid BK kernel used by the path solver.

The kernel module may move (``ersm/solvers/_bk_kernel.py`` ->
``ersm/solvers/kernels/bk.py``); only this file then changes.
"""

from __future__ import annotations

from .._bk_kernel import _solve_map as solve_map  # noqa: F401  (Numba: one grid cut, canonical)
from .._bk_kernel import grid_mincut_batch  # noqa: F401  (host batch cut)

__all__ = ["grid_mincut_batch", "solve_map"]
