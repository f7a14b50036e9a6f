"""``graphcut`` (default): our exact batched min-cut for grid graphs (Numba BK).

float64 capacities, no quantisation, batch-parallel over cores. Returns the canonical
minimum cut: a token is kept iff it is not reachable from the source in the final
residual graph (the largest optimal keep set), so results do not depend on thread
scheduling or algorithm details.
"""

from __future__ import annotations

import numpy as np

from .registry import BackendSpec, register


def _run(unary: np.ndarray, pairwise: np.ndarray) -> dict:
    from ._bk_kernel import grid_mincut_batch

    return {"mask": grid_mincut_batch(unary, pairwise)}


SPEC = register(BackendSpec(
    name="graphcut", run=_run, exact=True, needs_submodular=True,
    description="exact Boykov-Kolmogorov min-cut on grid graphs, Numba, float64, batch-parallel",
))
