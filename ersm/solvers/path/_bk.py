"""The one import of the grid BK kernel used by the path solver.

The kernel moved from ``ersm/solvers/_bk_kernel.py`` to ``ersm/solvers/kernels/bk.py``;
only the import below knows where it lives.
"""

from __future__ import annotations

try:  # the kernel's home after the solvers restructuring
    from ..kernels import bk as _bk
except ImportError:  # pragma: no cover - before it
    from .. import _bk_kernel as _bk  # type: ignore[no-redef]

from ..kernels.push_relabel import preflow_cut  # noqa: E402  Numba: push-relabel cut

grid_mincut_batch = _bk.grid_mincut_batch  # host batch cut (canonical)
direction_offsets = _bk._direction_offsets  # Numba: flat offsets of the 2K directions
push_trivial_paths = _bk._push_trivial_paths  # Numba: saturate s -> i -> j -> t paths
maxflow = _bk._maxflow  # Numba: BK on a prepared padded residual graph
DIRECTIONS_4 = _bk._D4  # direction tuple: compiles the BK helpers for 4-connectivity
DIRECTIONS_8 = _bk._D8  # ... and for 8-connectivity
SOURCE = _bk._SOURCE  # tree label of nodes reachable from the source
NO_PARENT = _bk._NO_PARENT  # initial parent code
PREFLOW_MAX_TOKENS = _bk.PREFLOW_MAX_TOKENS  # 8-conn maps this small: preflow beats BK

__all__ = ["DIRECTIONS_4", "DIRECTIONS_8", "NO_PARENT", "PREFLOW_MAX_TOKENS", "SOURCE",
           "direction_offsets", "grid_mincut_batch", "maxflow", "preflow_cut",
           "push_trivial_paths"]
