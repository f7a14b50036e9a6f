"""``gco`` for :class:`~ersm.PottsEnergy`: gco-wrapper's α-expansion, the oracle.

GCO works on int32 costs (each term below ``GCO_MAX_ENERGYTERM = 10^7``), so the energy
is shifted (the cheapest label of each token costs 0, which changes no minimiser) and
scaled by a power of two: losslessly when one exists, otherwise rounded
(``info["lossless"]`` says which, and a warning is raised). GCO starts from label 0
everywhere. Research-only licence, optional ``[ref]`` extra.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from ...core.optional import require
from ..kernels.grid_graph import grid_edges
from ..kernels.integer_scaling import exact_integer_scale, lossy_integer_scale, term_bound, to_integers
from ..registry import BackendSpec, register
from .gco import GCO_LIMIT


def gco_potts_map(unary: np.ndarray, pairwise: np.ndarray) -> tuple[np.ndarray, bool, float]:
    """α-expansion of one map with GCO.

    Args:
        unary: ``(L, H, W)`` float64; pairwise: ``(K, H, W)`` float64 ``≥ 0``.

    Returns:
        ``(labels (H, W) int64, lossless, seconds)``; ``seconds`` is the time GCO itself
        spends (graph set-up and ``expansion``), without the Python-side conversion.
    """
    gco = require("gco", extra="ref")
    n_labels, height, width = unary.shape
    data = (unary - unary.min(axis=0)).reshape(n_labels, -1).T  # (n, L), >= 0
    i, j, w = grid_edges(pairwise)
    exponent = exact_integer_scale(data, w, GCO_LIMIT, term_bound)
    lossless = exponent is not None
    if exponent is None:
        exponent = lossy_integer_scale(data, w, GCO_LIMIT, term_bound)
    data = np.ascontiguousarray(to_integers(data, exponent), dtype=np.intc)
    weights = to_integers(w, exponent)
    keep = weights > 0
    s1, s2, wk = i[keep], j[keep], weights[keep].astype(np.intc)
    smooth = (1 - np.eye(n_labels)).astype(np.intc)
    graph = gco.GCO()
    start = time.perf_counter()
    graph.create_general_graph(height * width, n_labels, False)
    try:
        graph.set_data_cost(data)
        if keep.any():
            graph.set_all_neighbors(s1, s2, wk)
        graph.set_smooth_cost(smooth)
        graph.expansion(-1)
        labels = np.asarray(graph.get_labels())
    finally:
        graph.destroy_graph()
    seconds = time.perf_counter() - start
    return labels.reshape(height, width).astype(np.int64), lossless, seconds


def _run(unary: np.ndarray, pairwise: np.ndarray) -> dict:
    labels = np.zeros((unary.shape[0], *unary.shape[2:]), dtype=np.int64)
    lossless = np.ones(unary.shape[0], dtype=bool)
    seconds = np.zeros(unary.shape[0])
    for b in range(unary.shape[0]):
        labels[b], lossless[b], seconds[b] = gco_potts_map(unary[b], pairwise[b])
    if not lossless.all():
        warnings.warn(f"gco rounded {int((~lossless).sum())} of {len(lossless)} maps to int32 "
                      "(no power-of-two scaling is lossless): their labels may be worse; "
                      "info['lossless'] says which", RuntimeWarning, stacklevel=3)
    return {"labels": labels, "lossless": lossless, "gco_seconds": seconds}


SPEC = register(BackendSpec(
    name="gco", run=_run, kind="potts", needs_submodular=True, requires=("gco",), extra="ref",
    description="gco-wrapper alpha-expansion (GCO, research-only licence), int32 costs "
    "after a power-of-two scaling; the oracle for expansion",
))
