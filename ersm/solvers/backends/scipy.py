"""``scipy``: ``scipy.sparse.csgraph.maximum_flow`` as an independent exact oracle.

SciPy's max-flow works on int32 capacities. The energy is rescaled by a power of two
that makes every capacity an integer *without rounding*; inputs with no such scaling
within int32 (e.g. values spanning 1e-9…1e9) are refused rather than quantised. The mask
is the canonical one: tokens not reachable from the source in the residual graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...core.errors import ValueRangeError
from ..kernels.grid_graph import grid_edges, solve_each_map, terminal_capacities
from ..kernels.integer_scaling import exact_integer_scale, to_integers
from ..registry import BackendSpec, register

if TYPE_CHECKING:  # scipy.sparse is imported when the backend runs: ~0.3 s off `import ersm`
    import scipy.sparse as sp


def source_reachable_cut(capacity: sp.csr_matrix, flow: sp.csr_matrix, source: int) -> np.ndarray:
    """Bool per node: reachable from ``source`` through positive residual capacity."""
    from scipy.sparse.csgraph import breadth_first_order  # lazy: scipy.sparse costs ~0.3 s

    residual = (capacity - flow).tocsr()
    residual.data = (residual.data > 0).astype(np.int8)
    residual.eliminate_zeros()
    order = breadth_first_order(residual, source, directed=True, return_predecessors=False)
    reach = np.zeros(capacity.shape[0], dtype=bool)
    reach[order] = True
    return reach


def scipy_mincut_map(unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """Canonical keep-mask ``(H, W)`` of one map via scipy max-flow (exact integers)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import maximum_flow

    height, width = unary.shape
    s = exact_integer_scale(unary, pairwise)
    if s is None:
        raise ValueRangeError(
            "backend 'scipy' needs capacities that a power of two maps exactly to int32 "
            "(its max-flow is int32); this energy has none. Use backend 'graphcut' "
            "(float64) or 'reference' (exact, arbitrary precision)"
        )
    n = height * width
    src_node, sink_node = n, n + 1
    i, j, w = grid_edges(pairwise)
    cap_s, cap_t = terminal_capacities(unary)
    nodes = np.arange(n)
    rows = np.concatenate([i, j, np.full(n, src_node), nodes])
    cols = np.concatenate([j, i, nodes, np.full(n, sink_node)])
    vals = to_integers(np.concatenate([w, w, cap_s, cap_t]), s)
    keep = vals > 0
    capacity = sp.csr_matrix((vals[keep].astype(np.int32), (rows[keep], cols[keep])),
                             shape=(n + 2, n + 2))
    capacity.sum_duplicates()
    result = maximum_flow(capacity, src_node, sink_node)
    reach = source_reachable_cut(capacity.astype(np.int64), result.flow.astype(np.int64), src_node)
    return ~reach[:n].reshape(height, width)


def _run(unary: np.ndarray, pairwise: np.ndarray) -> dict:
    return {"mask": solve_each_map(scipy_mincut_map, unary, pairwise)}


SPEC = register(BackendSpec(
    name="scipy", run=_run, exact=True, canonical=True, quantised=True, needs_submodular=True,
    description="scipy.sparse.csgraph.maximum_flow (int32, lossless power-of-two scaling only)",
))
