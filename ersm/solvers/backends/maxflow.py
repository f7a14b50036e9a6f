"""``maxflow``: adapter to PyMaxflow (GPL; optional ``[ref]`` extra), float64 BK.

Builds one graph per map (build + solve timed together in bench/). Free nodes go to
PyMaxflow's source side, so on ties the mask may differ from ``graphcut``'s canonical
one while the energy is equally minimal.
"""

from __future__ import annotations

import numpy as np

from ...core.optional import require
from ...energy.offsets import OFFSETS
from ..kernels.grid_graph import solve_each_map
from ..registry import BackendSpec, register


def _structure(k: int) -> np.ndarray:
    dy, dx = OFFSETS[k]
    s = np.zeros((3, 3))
    s[1 + dy, 1 + dx] = 1.0
    return s


def pymaxflow_mincut_map(unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """Keep-mask ``(H, W)`` (sink side) of one map with ``maxflow.GraphFloat``."""
    maxflow = require("maxflow", extra="ref")
    graph = maxflow.GraphFloat()
    nodes = graph.add_grid_nodes(unary.shape)
    for k in range(pairwise.shape[0]):
        graph.add_grid_edges(nodes, weights=pairwise[k], structure=_structure(k), symmetric=True)
    graph.add_grid_tedges(nodes, np.maximum(unary, 0), np.maximum(-unary, 0))
    graph.maxflow()
    return graph.get_grid_segments(nodes)


def _run(unary: np.ndarray, pairwise: np.ndarray) -> dict:
    return {"mask": solve_each_map(pymaxflow_mincut_map, unary, pairwise)}


SPEC = register(BackendSpec(
    name="maxflow", run=_run, exact=True, needs_submodular=True, requires=("maxflow",),
    extra="ref", description="PyMaxflow (GPL) Boykov-Kolmogorov, float64; reference/bench only",
))
