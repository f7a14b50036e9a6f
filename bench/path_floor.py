"""The floor of the keep-cost path: only its confirming cuts, with the answer given.

Every plateau of the exact thresholds (a connected set of tokens with one threshold) is
certified by one BK cut of the contracted plateau at its critical λ (DESIGN.md,
``ersm/solvers/path/kernel.py``): any method that certifies plateaus with cuts pays at
least these cuts. This module rebuilds that last step from the exact thresholds — each
plateau one segment of the path kernel's stack, its neighbours folded into the unaries —
and runs the path kernel on it: no split is left to do, only the confirmations.
``bench/bench_path.py`` times it beside the whole path and one graph cut.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ersm.solvers.path.kernel import _neighbours, _run_with_scratch

__all__ = ["confirm_only", "confirm_only_state"]


def confirm_only_state(theta: np.ndarray, pairwise: np.ndarray, thresholds: np.ndarray) -> tuple:
    """Kernel state of one map ``theta (H, W)``, ``pairwise (K, H, W)`` whose stack holds
    one segment per plateau of ``thresholds (H, W)`` (sorted by threshold, neighbours on
    other plateaus folded in as kept above / dropped below)."""
    H, W = theta.shape
    n = H * W
    nb, nw = _neighbours(pairwise, H, W)
    t = thresholds.ravel()
    i_all, j_all, w_all = [], [], []
    for d in range(nb.shape[1]):
        i = np.nonzero(nb[:, d] >= 0)[0]
        i_all.append(i)
        j_all.append(nb[i, d])
        w_all.append(nw[i, d])
    i, j, w = np.concatenate(i_all), np.concatenate(j_all), np.concatenate(w_all)
    same = t[i] == t[j]
    graph = coo_matrix((np.ones(int(same.sum())), (i[same], j[same])), shape=(n, n))
    label = connected_components(graph, directed=False)[1]
    order = np.lexsort((label, t)).astype(np.int64)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    theta_flat = theta.ravel().astype(np.float64)
    folded = theta_flat.copy()
    np.add.at(folded, i, np.where(t[j] > t[i], -w, np.where(t[j] < t[i], w, 0.0)))
    runs = label[order]
    starts = np.r_[0, np.nonzero(np.diff(runs) != 0)[0] + 1]
    st_a = np.zeros(n + 1, dtype=np.int64)
    st_b = np.zeros(n + 1, dtype=np.int64)
    st_a[:len(starts)] = starts
    st_b[:len(starts)] = np.r_[starts[1:], n]
    return (theta_flat, folded, nb, nw, H, W, pairwise.shape[0], order, pos, st_a, st_b,
            len(starts))


def confirm_only(state: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Run the confirming cuts of :func:`confirm_only_state` on the calling thread:
    ``(thresholds (H·W,), stats (4,))`` — the thresholds equal the exact ones."""
    theta_flat, folded, nb, nw, H, W, K, order, pos, st_a, st_b, top = state
    n = H * W
    t_out = np.empty(n, dtype=np.float64)
    stats = np.zeros(4, dtype=np.int64)
    _run_with_scratch(theta_flat, folded.copy(), nb, nw, H, W, K, order.copy(), pos.copy(),
                      np.zeros(n, dtype=np.int64), t_out, np.zeros(n, dtype=np.bool_),
                      np.empty(n, dtype=np.int64), st_a.copy(), st_b.copy(), top, n + 2, 1, 1,
                      -np.inf, np.inf, stats)
    return t_out, stats
