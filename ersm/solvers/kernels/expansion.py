"""α-expansion for multi-label Potts energies on grids, each move one exact BK cut.

Energy (one map): ``E(l) = Σ_i U_i(l_i) + Σ_(i,j) w_ij [l_i ≠ l_j]``, ``w ≥ 0``.

An α-move lets every token keep its label (``x_i = 0``) or switch to ``α`` (``x_i = 1``).
Its energy is ``E(l) + Σ_i θ_i x_i + Σ_(i,j) c_ij [x_i ≠ x_j]``, a binary grid energy
that :func:`ersm.solvers.kernels.bk._solve_map` minimises exactly. Per edge the Potts
term gives ``E00 = w[l_i≠l_j]``, ``E01 = w[l_i≠α]``, ``E10 = w[α≠l_j]``, ``E11 = 0``,
which is submodular; as a constant plus unaries plus ``c [x_i ≠ x_j]`` with
``c = (E01 + E10 − E00 − E11) / 2`` (Kolmogorov–Zabih 2004) it is:

=======================  ===========  ==============================
current labels           ``c``        unaries
=======================  ===========  ==============================
``l_i = l_j ≠ α``        ``w``        —
``l_i = l_j = α``        0            —
``l_i = α ≠ l_j``        0            ``θ_j −= w``
``l_j = α ≠ l_i``        0            ``θ_i −= w``
``α, l_i, l_j`` distinct ``w / 2``    ``θ_i −= w/2``, ``θ_j −= w/2``
=======================  ===========  ==============================

plus ``θ_i += U_i(α) − U_i(l_i)``. Tokens already labelled ``α`` get ``θ = 0`` and no
edges, so they stay out of the search trees. A move is accepted when its energy change
(the float64 sum of the unary and edge changes around the switched tokens) is negative,
in the first pass over the labels also when it is zero (the canonical cut's
tie-breaking); after that pass the energy decreases at every accepted move, so the
iteration cannot cycle. Labels
are visited ``0, 1, …, L − 1, 0, …`` until ``L`` consecutive labels give no improvement
(a local minimum with respect to every α-move, hence within ``2·max w / min w`` of the
optimum for Potts, Boykov–Veksler–Zabih 2001) or ``max_cycles`` passes are done.
"""

from __future__ import annotations

import numpy as np

from ersm.core.numba_cache import njit
from ersm.core.parallel import run_batch
from ersm.energy.offsets import OFFSETS

from .bk import _solve_map, _solve_map_keep, _solve_map_warm, grid_state_sizes

__all__ = ["expansion_batch"]

_DY = np.array([o[0] for o in OFFSETS], dtype=np.int64)
_DX = np.array([o[1] for o in OFFSETS], dtype=np.int64)


@njit(nogil=True, cache=True)
def _labels_energy(costs, pairwise, labels):
    """``E(labels)`` of one map: ``costs (H, W, L)`` (the unary, label axis last),
    ``pairwise (K, H, W)``, ``labels (H, W)`` int64."""
    H, W = labels.shape
    e = 0.0
    for y in range(H):
        for x in range(W):
            e += costs[y, x, labels[y, x]]
    for k in range(pairwise.shape[0]):
        dy = _DY[k]
        dx = _DX[k]
        x_lo = 0 if dx >= 0 else -dx
        x_hi = W - dx if dx >= 0 else W
        for y in range(H - dy):
            for x in range(x_lo, x_hi):
                if labels[y, x] != labels[y + dy, x + dx]:
                    e += pairwise[k, y, x]
    return e


@njit(nogil=True, cache=True)
def _build_move(costs, pairwise, labels, alpha, theta, w):
    """The binary α-move energy ``(θ, c)`` of one map (see the module table) into
    ``theta`` ``(H, W)`` and ``w`` ``(K, H, W)``; off-grid weights are left as they are.
    ``costs`` is the unary ``(H, W, L)`` (a token's costs in one cache line)."""
    H, W = labels.shape
    for y in range(H):
        for x in range(W):
            theta[y, x] = costs[y, x, alpha] - costs[y, x, labels[y, x]]
    for k in range(pairwise.shape[0]):
        dy = _DY[k]
        dx = _DX[k]
        x_lo = 0 if dx >= 0 else -dx
        x_hi = W - dx if dx >= 0 else W
        for y in range(H - dy):
            for x in range(x_lo, x_hi):
                wk = pairwise[k, y, x]
                li = labels[y, x]
                lj = labels[y + dy, x + dx]
                if li == lj:
                    w[k, y, x] = wk if li != alpha else 0.0
                elif li == alpha:
                    w[k, y, x] = 0.0
                    theta[y + dy, x + dx] -= wk
                elif lj == alpha:
                    w[k, y, x] = 0.0
                    theta[y, x] -= wk
                else:
                    half = 0.5 * wk
                    w[k, y, x] = half
                    theta[y, x] -= half
                    theta[y + dy, x + dx] -= half


@njit(nogil=True, cache=True)
def _move_delta(costs, pairwise, labels, alpha, changed, order, n_changed):
    """``E(after) − E(before)`` of switching the ``n_changed`` tokens ``order[:n]`` (flat
    indices, ``changed`` their ``(H, W)`` mask) to ``α``: their unary change plus every
    edge touching them (an edge between two switched tokens is counted once, from its
    first end)."""
    H, W = labels.shape
    delta = 0.0
    for t in range(n_changed):
        y = order[t] // W
        x = order[t] - y * W
        li = labels[y, x]
        delta += costs[y, x, alpha] - costs[y, x, li]
        for k in range(pairwise.shape[0]):
            dy = _DY[k]
            dx = _DX[k]
            yn, xn = y + dy, x + dx
            if yn < H and 0 <= xn < W:  # forward edge: always counted from here
                lj = labels[yn, xn]
                new_j = alpha if changed[yn, xn] else lj
                delta += pairwise[k, y, x] * (int(alpha != new_j) - int(li != lj))
            yp, xp = y - dy, x - dx
            if yp >= 0 and 0 <= xp < W and not changed[yp, xp]:  # else counted from there
                lj = labels[yp, xp]
                delta += pairwise[k, yp, xp] * (int(alpha != lj) - int(li != lj))
    return delta


@njit(nogil=True, cache=True)
def _visit(costs, pairwise, labels, alpha, work, slots, recycle, allow_tie):
    """One α-move from ``labels``, applied in place when it lowers the energy (or keeps
    it, with ``allow_tie``); returns ``(energy change, accepted)``."""
    theta, w, cut, changed, order = work
    theta_s, w_s, res_s, tr_s, started = slots
    H, W = labels.shape
    _build_move(costs, pairwise, labels, alpha, theta, w)
    if not recycle:
        _solve_map(theta, w, cut)
    elif started[alpha]:
        _solve_map_warm(theta_s[alpha], w_s[alpha], theta, w, cut, res_s[alpha],
                        tr_s[alpha], res_s[alpha], tr_s[alpha], False)
    else:
        _solve_map_keep(theta, w, cut, res_s[alpha], tr_s[alpha])
        started[alpha] = True
    if recycle:
        theta_s[alpha] = theta
        w_s[alpha] = w
    n_changed = 0
    for y in range(H):
        for x in range(W):
            switch = cut[y, x] and labels[y, x] != alpha
            changed[y, x] = switch
            if switch:
                order[n_changed] = y * W + x
                n_changed += 1
    if n_changed == 0:
        return 0.0, False
    delta = _move_delta(costs, pairwise, labels, alpha, changed, order, n_changed)
    if delta < 0.0 or (allow_tie and delta == 0.0):
        for t in range(n_changed):
            y = order[t] // W
            labels[y, order[t] - y * W] = alpha
        return delta, True
    return 0.0, False


@njit(nogil=True, cache=True)
def _expand_map(unary, pairwise, labels, max_cycles, n_res, n_tr, recycle, stats):
    """α-expansion of one map from ``labels`` (updated in place); ``stats`` gets
    ``[energy, label visits, accepted moves, converged]`` (labels in turn until ``L``
    consecutive ones fail). With ``recycle`` the final flow of each label's move
    warm-starts that label's next move (Kohli–Torr dynamic cuts; the cut is the same
    canonical one)."""
    L, H, W = unary.shape
    K = pairwise.shape[0]
    costs = np.empty((H, W, L), dtype=np.float64)
    for lab in range(L):
        costs[:, :, lab] = unary[lab]
    work = (np.empty((H, W), dtype=np.float64), np.zeros((K, H, W), dtype=np.float64),
            np.empty((H, W), dtype=np.bool_), np.empty((H, W), dtype=np.bool_),
            np.empty(H * W, dtype=np.int64))
    n = L if recycle else 0
    slots = (np.empty((n, H, W), dtype=np.float64), np.zeros((n, K, H, W), dtype=np.float64),
             np.zeros((n, n_res), dtype=np.float64), np.zeros((n, n_tr), dtype=np.float64),
             np.zeros(L, dtype=np.bool_))
    e = _labels_energy(costs, pairwise, labels)
    visits = 0
    moves = 0
    since = 0  # consecutive labels without an improvement
    alpha = 0
    while since < L and visits < max_cycles * L:
        visits += 1
        # ties are taken in the first pass only (so at most L times: no cycling); for
        # L = 2 from label 0 the second visit is then the canonical binary cut itself
        delta, accepted = _visit(costs, pairwise, labels, alpha, work, slots, recycle,
                                 visits <= L)
        e += delta
        # an accepted α-move is optimal among α-moves: α cannot improve right after
        since = 1 if accepted else since + 1
        moves += accepted
        alpha = alpha + 1 if alpha + 1 < L else 0
    stats[0] = e
    stats[1] = visits
    stats[2] = moves
    stats[3] = 1.0 if since >= L else 0.0


@njit(nogil=True, cache=True)
def _expand_range(start, stop, unary, pairwise, labels, max_cycles, n_res, n_tr, recycle, stats):
    for b in range(start, stop):
        _expand_map(unary[b], pairwise[b], labels[b], max_cycles, n_res, n_tr, recycle, stats[b])


def expansion_batch(unary: np.ndarray, pairwise: np.ndarray, labels: np.ndarray,
                    max_cycles: int, recycle: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """α-expansion of every map of a batch, batch-parallel (:func:`~ersm.core.parallel.run_batch`).

    Args:
        unary: ``(B, L, H, W)`` float64; pairwise: ``(B, K, H, W)`` float64, ``≥ 0``.
        labels: ``(B, H, W)`` int64 start labelling in ``[0, L)`` (not modified).
        max_cycles: most passes over the ``L`` labels per map, ``≥ 1``.
        recycle: warm-start each label's move from its previous flow (keeps ``L``
            residual graphs per map in flight: about ``L · 8 · (3K + 2) · H · W`` bytes).

    Returns:
        ``(labels (B, H, W) int64, stats (B, 4) float64)`` with ``stats[b]`` =
        ``[energy, label visits, accepted moves, converged (0/1)]``.
    """
    unary = np.ascontiguousarray(unary, dtype=np.float64)
    pairwise = np.ascontiguousarray(pairwise, dtype=np.float64)
    out = np.array(labels, dtype=np.int64, order="C", copy=True)
    stats = np.zeros((unary.shape[0], 4), dtype=np.float64)
    b, _, h, w = unary.shape
    n_res, n_tr = grid_state_sizes(h, w, pairwise.shape[1])
    run_batch(_expand_range, b, unary, pairwise, out, int(max_cycles), n_res, n_tr,
              bool(recycle), stats)
    return out, stats
