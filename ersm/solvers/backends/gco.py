"""``gco``: adapter to gco-wrapper (GCO v3; research-only licence; optional ``[ref]``).

GCO works on int32 costs and aborts the whole process (an uncaught C++ exception) when
a single term exceeds ``GCO_MAX_ENERGYTERM = 10^7``. The energy is rescaled by a power
of two so that every term stays below that: losslessly when such a scaling exists (then
the result is exact), otherwise rounded (then it is not; ``info["lossless"]`` says which). Note: ``import gco`` adds the removed aliases
``numpy.int``/``numpy.float``/``numpy.bool`` to NumPy as a side effect; ersm imports it
only when this backend runs. The PyPI package ``pygco`` does not build; use
``gco-wrapper``.
"""

from __future__ import annotations

import warnings

import numpy as np

from ...core.optional import require
from ..kernels.grid_graph import grid_edges, terminal_capacities
from ..kernels.integer_scaling import exact_integer_scale, lossy_integer_scale, term_bound, to_integers
from ..registry import BackendSpec, register

GCO_LIMIT = 2**23
"""Largest scaled term; GCO's own limit is ``GCO_MAX_ENERGYTERM = 10_000_000``."""


def gco_mincut_map(unary: np.ndarray, pairwise: np.ndarray) -> tuple[np.ndarray, bool]:
    """Keep-mask ``(H, W)`` of one map with GCO, and whether the int scaling was lossless."""
    gco = require("gco", extra="ref")
    height, width = unary.shape
    exponent = exact_integer_scale(unary, pairwise, GCO_LIMIT, term_bound)
    lossless = exponent is not None
    if exponent is None:
        exponent = lossy_integer_scale(unary, pairwise, GCO_LIMIT, term_bound)
    i, j, w = grid_edges(pairwise)
    cost_keep, cost_drop = terminal_capacities(unary)
    data = np.stack([to_integers(cost_drop, exponent), to_integers(cost_keep, exponent)], 1)
    weights = to_integers(w, exponent)
    keep = weights > 0
    graph = gco.GCO()
    graph.create_general_graph(height * width, 2, False)
    try:
        graph.set_data_cost(data.astype(np.intc))
        if keep.any():
            graph.set_all_neighbors(i[keep], j[keep], weights[keep].astype(np.intc))
        graph.set_smooth_cost(np.array([[0, 1], [1, 0]], dtype=np.intc))
        graph.expansion(-1)
        labels = np.asarray(graph.get_labels())
    finally:
        graph.destroy_graph()
    return labels.reshape(height, width).astype(bool), lossless


def _run(unary: np.ndarray, pairwise: np.ndarray) -> dict:
    mask = np.zeros(unary.shape, dtype=bool)
    lossless = []
    for b in range(unary.shape[0]):
        mask[b], ok = gco_mincut_map(unary[b], pairwise[b])
        lossless.append(ok)
    if not all(lossless):
        warnings.warn(f"gco rounded {len(lossless) - sum(lossless)} of {len(lossless)} maps to "
                      "int32 (no power-of-two scaling is lossless): their masks may not be "
                      "optimal; info['lossless'] says which", RuntimeWarning, stacklevel=3)
    return {"mask": mask, "lossless": np.array(lossless, dtype=bool)}


SPEC = register(BackendSpec(
    name="gco", run=_run, exact=True, quantised=True, needs_submodular=True, requires=("gco",),
    extra="ref", description="gco-wrapper (GCO, research-only licence), int32: exact when "
    "a power of two scales the energy to integers losslessly",
))
