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
edges, so they stay out of the search trees. Every move takes the canonical cut (the
largest α-set among the move's minimisers). Its energy change (the float64 sum of the
unary and edge changes around the switched tokens) decides whether it is taken. A move
that cannot change anything (all tokens already ``α``) is skipped. Two schedules:

* **adaptive** (:data:`ADAPTIVE`, the default): GCO's ``expansion(-1)`` "adaptive
  cycles". Labels start in the order ``0 … L−1``; a label whose move does not strictly
  lower the energy leaves the current queue; when fewer than half of a queue's labels
  succeeded, those are swept again as a queue of their own; a queue in which every move
  failed hands back to the unvisited rest of its parent. With the same start (label 0
  everywhere), the same moves (GCO also takes the largest α-set) and exact arithmetic
  (e.g. dyadic energies) this visits the labels as GCO does and reaches GCO's labels.
  One exception: with ``L = 2`` the first move also takes a tie, so that the result is
  the canonical binary cut (GCO keeps label 0 there; the energy is the same).
* **cyclic** (:data:`CYCLIC`): labels ``0, 1, …, L − 1, 0, …`` until ``L`` consecutive
  ones give no improvement; in the first pass a zero-change move is also taken (the
  canonical cut's tie-breaking), after it only decreases, so the iteration cannot cycle.

Both end in a local minimum with respect to every α-move (within ``2·max w / min w`` of
the optimum for Potts, Boykov–Veksler–Zabih 2001) unless ``max_cycles · L`` visits are
done first.

**Fusion polish** (``polish=True``): after the plain run has reached ``l``, a second
expansion from the same start visits the labels in reverse order and reaches another local
minimum ``p``; the *fusion move* lets
every token keep its label (``x_i = 0``) or take ``p_i`` (``x_i = 1``). Its edge terms
``E00 = w[l_i≠l_j]``, ``E11 = w[p_i≠p_j]``, ``E01 = w[l_i≠p_j]``, ``E10 = w[p_i≠l_j]`` are
not always submodular; where ``E00 + E11 > E01 + E10`` both mixed terms are raised by half
the excess. That bound is ``≥`` the move energy everywhere and equal to it at ``x = 0``, so
its exact cut never raises the energy (majorise–minimise; Lempitsky et al. 2010 fuse with
QPBO instead). After an accepted fusion expansion runs again (warm) until no α-move
improves, and fusion is tried again, until neither improves: the result is an α-expansion
local minimum whose energy is at most the plain one's.
"""

from __future__ import annotations

import numpy as np

from ersm.core.numba_cache import njit
from ersm.core.parallel import run_batch
from ersm.core.workspace import workspace
from ersm.energy.edge_span import edge_span
from ersm.energy.potts_sum import potts_energy_map

from .bk import _direction_offsets, _solve_map, grid_state_sizes
from .bk_reuse import (change_edge, change_unary, new_scratch, solve_keep_trees,
                       solve_reuse_marked, solve_reuse_trees)

__all__ = ["ADAPTIVE", "CYCLIC", "expansion_batch", "new_workspace"]

_REFRESH_SHARE = 8
"""A move energy is updated around the changed tokens when at most ``H·W / 8`` changed."""

CYCLIC = 0
"""Schedule: labels ``0 … L−1`` in turn until ``L`` in a row fail; first pass takes ties."""
ADAPTIVE = 1
"""Schedule: GCO's adaptive cycles (``expansion(-1)``), strict decreases only."""


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
        dy, dx, x_lo, x_hi = edge_span(k, W)
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


@njit(nogil=True, cache=True, inline="always")
def _move_theta(costs, pairwise, labels, alpha, y, x):
    """``θ`` of token ``(y, x)`` in the α-move, with the operations of
    :func:`_build_move` in its order (per channel the edge ending at the token comes
    before the one starting there), so both give the same float64."""
    H, W = labels.shape
    li = labels[y, x]
    t = costs[y, x, alpha] - costs[y, x, li]
    for k in range(pairwise.shape[0]):
        dy, dx, _, _ = edge_span(k, W)
        yp, xp = y - dy, x - dx
        if yp >= 0 and 0 <= xp < W:  # edge (yp, xp) -> (y, x)
            lp = labels[yp, xp]
            if lp != li:
                if lp == alpha:
                    t -= pairwise[k, yp, xp]
                elif li != alpha:
                    t -= 0.5 * pairwise[k, yp, xp]
        yn, xn = y + dy, x + dx
        if yn < H and 0 <= xn < W:  # edge (y, x) -> (yn, xn)
            ln = labels[yn, xn]
            if ln != li and li != alpha:
                if ln == alpha:
                    t -= pairwise[k, y, x]
                else:
                    t -= 0.5 * pairwise[k, y, x]
    return t


@njit(nogil=True, cache=True, inline="always")
def _move_weight(pairwise, labels, alpha, k, y, x, yn, xn):
    """``c`` of the in-grid channel-``k`` edge ``(y, x) -> (yn, xn)`` in the α-move."""
    li = labels[y, x]
    lj = labels[yn, xn]
    if li == lj:
        return pairwise[k, y, x] if li != alpha else 0.0
    if li == alpha or lj == alpha:
        return 0.0
    return 0.5 * pairwise[k, y, x]


@njit(nogil=True, cache=True)
def _refresh_move(costs, pairwise, labels, alpha, theta, w, log, start, stop, res, tr,
                  scratch):
    """Bring ``α``'s last move energy ``(theta, w)`` and its final residual state
    ``(res, tr)`` up to date after the tokens ``log[start:stop]`` (flat indices) changed
    label: only their own and their neighbours' ``θ`` and their edges can change. The
    changed padded nodes are listed for :func:`.bk_reuse.solve_reuse_marked`; returns
    how many."""
    H, W = labels.shape
    K = pairwise.shape[0]
    D = 2 * K
    Wp = W + 2
    off = _direction_offsets(K, Wp)
    _, _, _, todo, marked = scratch
    n_todo = 0
    for t in range(start, stop):
        y = log[t] // W
        x = log[t] - y * W
        for k in range(-1, 2 * K):  # the token itself, then its 2K neighbours
            yy, xx = y, x
            if k >= 0:
                dy, dx, _, _ = edge_span(k % K, W)
                yy, xx = (y + dy, x + dx) if k < K else (y - dy, x - dx)
                if yy < 0 or yy >= H or xx < 0 or xx >= W:
                    continue
            new = _move_theta(costs, pairwise, labels, alpha, yy, xx)
            n_todo = change_unary(tr, (yy + 1) * Wp + xx + 1, theta[yy, xx], new, marked,
                                  todo, n_todo)
            theta[yy, xx] = new
        for k in range(K):
            dy, dx, _, _ = edge_span(k, W)
            for side in range(2):  # the edge starting at the token, then the one ending there
                ys, xs = (y, x) if side == 0 else (y - dy, x - dx)
                yn, xn = ys + dy, xs + dx
                if ys < 0 or yn >= H or xs < 0 or xs >= W or xn < 0 or xn >= W:
                    continue
                new = _move_weight(pairwise, labels, alpha, k, ys, xs, yn, xn)
                n_todo = change_edge(res, tr, D, K, off, (ys + 1) * Wp + xs + 1, k,
                                     w[k, ys, xs], new, marked, todo, n_todo)
                w[k, ys, xs] = new
    return n_todo


@njit(nogil=True, cache=True)
def _build_fusion(costs, pairwise, labels, prop, theta, w):
    """The majorised fusion move of ``labels`` with ``prop`` (module docstring) as a
    binary energy ``(θ, c)`` into ``theta`` ``(H, W)`` and ``w`` ``(K, H, W)``."""
    H, W = labels.shape
    for y in range(H):
        for x in range(W):
            theta[y, x] = costs[y, x, prop[y, x]] - costs[y, x, labels[y, x]]
    for k in range(pairwise.shape[0]):
        dy, dx, x_lo, x_hi = edge_span(k, W)
        for y in range(H - dy):
            for x in range(x_lo, x_hi):
                wk = pairwise[k, y, x]
                li, pi = labels[y, x], prop[y, x]
                lj, pj = labels[y + dy, x + dx], prop[y + dy, x + dx]
                e00 = wk * (li != lj)
                e01 = wk * (li != pj)
                e10 = wk * (pi != lj)
                excess = e00 + wk * (pi != pj) - e01 - e10
                if excess > 0.0:  # not submodular: raise E01 and E10 (bound tight at x = 0)
                    e01 += 0.5 * excess
                    e10 += 0.5 * excess
                    excess = 0.0
                # E = E00 + (E10-E00) x_i + (E01-E00) x_j + excess x_i x_j, excess <= 0
                theta[y, x] += e10 - e00 + 0.5 * excess
                theta[y + dy, x + dx] += e01 - e00 + 0.5 * excess
                w[k, y, x] = -0.5 * excess


@njit(nogil=True, cache=True)
def _move_delta(costs, pairwise, labels, alpha, prop, changed, order, n_changed):
    """``E(after) − E(before)`` of giving the ``n_changed`` tokens ``order[:n]`` (flat
    indices, ``changed`` their ``(H, W)`` mask) label ``α`` (``alpha ≥ 0``) or their
    ``prop`` label (``alpha < 0``): their unary change plus every edge touching them (an
    edge between two changed tokens is counted once, from its first end)."""
    H, W = labels.shape
    delta = 0.0
    for t in range(n_changed):
        y = order[t] // W
        x = order[t] - y * W
        li = labels[y, x]
        new_i = alpha if alpha >= 0 else prop[y, x]
        delta += costs[y, x, new_i] - costs[y, x, li]
        for k in range(pairwise.shape[0]):
            dy, dx, _, _ = edge_span(k, W)
            yn, xn = y + dy, x + dx
            if yn < H and 0 <= xn < W:  # forward edge: always counted from here
                lj = labels[yn, xn]
                new_j = lj
                if changed[yn, xn]:
                    new_j = alpha if alpha >= 0 else prop[yn, xn]
                delta += pairwise[k, y, x] * (int(new_i != new_j) - int(li != lj))
            yp, xp = y - dy, x - dx
            if yp >= 0 and 0 <= xp < W and not changed[yp, xp]:  # else counted from there
                lj = labels[yp, xp]
                delta += pairwise[k, yp, xp] * (int(new_i != lj) - int(li != lj))
    return delta


@njit(nogil=True, cache=True)
def _take_cut(costs, pairwise, labels, alpha, prop, cut, work, allow_tie):
    """Apply the move whose cut is ``cut`` (keep = switch to ``α``, or to ``prop`` when
    ``alpha < 0``) when it lowers the energy (or keeps it, with ``allow_tie``); returns
    ``(energy change, accepted)``. ``counts[l]`` (tokens labelled ``l``) is kept up to date
    and the switched tokens are appended to the change log (:func:`_new_work`)."""
    _, changed, order, counts, log, seen = work
    H, W = labels.shape
    n_changed = 0
    for y in range(H):
        for x in range(W):
            new = alpha if alpha >= 0 else prop[y, x]
            switch = cut[y, x] and labels[y, x] != new
            changed[y, x] = switch
            if switch:
                order[n_changed] = y * W + x
                n_changed += 1
    if n_changed == 0:
        return 0.0, False
    delta = _move_delta(costs, pairwise, labels, alpha, prop, changed, order, n_changed)
    if delta < 0.0 or (allow_tie and delta == 0.0):
        n_log = seen[-1]
        if n_log + n_changed > log.shape[0]:  # full: start a new log, every label rebuilds
            seen[:] = -1
            n_log = 0
        for t in range(n_changed):
            y = order[t] // W
            x = order[t] - y * W
            new = alpha if alpha >= 0 else prop[y, x]
            counts[labels[y, x]] -= 1
            counts[new] += 1
            labels[y, x] = new
            log[n_log + t] = order[t]
        seen[-1] = n_log + n_changed
        return delta, True
    return 0.0, False


@njit(nogil=True, cache=True)
def _visit(costs, pairwise, labels, alpha, work, slots, recycle, allow_tie):
    """One α-move from ``labels``, applied in place when it lowers the energy (or keeps
    it, with ``allow_tie``); returns ``(energy change, accepted)``.

    With ``recycle`` the move warm-starts from ``α``'s last flow and search trees. When
    few tokens changed label since ``α``'s last move (the change log of :func:`_new_work`)
    its move energy and residual state are updated around them (:func:`_refresh_move`);
    otherwise the move energy is built straight into the spare buffer, which then becomes
    ``α``'s (its previous buffer, the energy the warm start compares with, becomes the
    spare), so no energy is copied."""
    cut, _, _, _, log, seen = work
    theta_b, w_b, res_s, tr_s, slot_of, tree_s, parent_s, ts_s, dist_s, clock_s, scratch = slots
    H, W = labels.shape
    a = alpha if recycle else 0
    trees = (tree_s[a], parent_s[a], ts_s[a], dist_s[a], clock_s[a])
    old = slot_of[alpha]
    since = seen[alpha]
    if recycle and old >= 0 and since >= 0 and seen[-1] - since <= H * W // _REFRESH_SHARE:
        n_todo = _refresh_move(costs, pairwise, labels, alpha, theta_b[old], w_b[old], log,
                               since, seen[-1], res_s[alpha], tr_s[alpha], scratch)
        solve_reuse_marked(H, W, pairwise.shape[0], cut, res_s[alpha], tr_s[alpha], trees,
                           scratch, n_todo)
    else:
        b = slot_of[-1] if recycle else 0
        theta = theta_b[b]
        w = w_b[b]
        _build_move(costs, pairwise, labels, alpha, theta, w)
        if not recycle:
            _solve_map(theta, w, cut)
        elif old >= 0:
            solve_reuse_trees(theta_b[old], w_b[old], theta, w, cut, res_s[alpha],
                              tr_s[alpha], trees, scratch)
            slot_of[alpha] = b
            slot_of[-1] = old
        else:  # buffer alpha was nobody's: it is the new spare (see _new_slots)
            solve_keep_trees(theta, w, cut, res_s[alpha], tr_s[alpha], trees, scratch)
            slot_of[alpha] = b
            slot_of[-1] = alpha
    if recycle:
        seen[alpha] = seen[-1]  # α's move energy is that of the labels up to here
    return _take_cut(costs, pairwise, labels, alpha, labels, cut, work, allow_tie)


@njit(nogil=True, cache=True)
def _new_work(H, W, L):
    """Per-labelling scratch ``(cut, changed, order, counts, log, seen)``: masks and
    token lists of a move, the label counts ``(L,)``, the change log (flat indices of the
    tokens switched by accepted moves, ``2·H·W`` long) and ``seen`` ``(L + 1,)``: the log
    length when each label's move energy was last brought up to date (``-1``: unknown,
    rebuild), ``seen[L]`` the log's length. :func:`_start_work` readies it for a labelling."""
    return (np.empty((H, W), dtype=np.bool_), np.empty((H, W), dtype=np.bool_),
            np.empty(H * W, dtype=np.int64), np.zeros(L, dtype=np.int64),
            np.empty(2 * H * W, dtype=np.int32), np.full(L + 1, -1, dtype=np.int64))


@njit(nogil=True, cache=True)
def _start_work(work, labels):
    """Ready the scratch of :func:`_new_work` for ``labels``: its label counts, an empty
    change log and no move energy up to date."""
    counts, seen = work[3], work[5]
    counts[:] = 0
    for y in range(labels.shape[0]):
        for x in range(labels.shape[1]):
            counts[labels[y, x]] += 1
    seen[:] = -1
    seen[-1] = 0
    return work


@njit(nogil=True, cache=True)
def _new_slots(L, H, W, K, n_res, n_tr, recycle):
    """Buffers of the move energies: ``L + 1`` with ``recycle`` (one per label and a spare;
    ``slot_of[α]`` is the buffer holding ``α``'s last move, ``-1`` before its first,
    ``slot_of[L]`` the spare, at first buffer ``L`` (:func:`_start_slots`); buffer ``α``
    is only handed out when ``α`` starts), else one; residual graphs ``(L, ·)`` and
    search trees ``(L, ·)`` with ``recycle`` (zero), and the tree scratch they share
    (:mod:`.bk_reuse`)."""
    nb = L + 1 if recycle else 1
    n = L if recycle else 0
    nt, m = (L, n_tr) if recycle else (1, 1)  # search trees (unused without recycle)
    return (np.empty((nb, H, W), dtype=np.float64), np.zeros((nb, K, H, W), dtype=np.float64),
            np.zeros((n, n_res), dtype=np.float64), np.zeros((n, n_tr), dtype=np.float64),
            np.empty(L + 1, dtype=np.int64), np.zeros((nt, m), dtype=np.uint8),
            np.zeros((nt, m), dtype=np.int8), np.zeros((nt, m), dtype=np.int32),
            np.zeros((nt, m), dtype=np.int32), np.zeros((nt, 1), dtype=np.int64),
            new_scratch(m))


@njit(nogil=True, cache=True)
def _start_slots(slots, recycle):
    """Ready the buffers of :func:`_new_slots` for a new map: no label has a move yet.
    What a cut needs zero on entry (off-grid weights and residuals, queue flags) is zero
    when they are made and every cut leaves it so; the rest is written before it is read."""
    slot_of = slots[4]
    L = slot_of.shape[0] - 1
    slot_of[:] = -1
    slot_of[L] = L if recycle else 0
    return slots


@njit(nogil=True, cache=True)
def new_workspace(L, H, W, K, n_res, n_tr, recycle):
    """All scratch of :func:`_expand_map` for ``L`` labels on ``H × W`` maps with ``K``
    channels (residual state sizes ``n_res``, ``n_tr`` from :func:`.bk.grid_state_sizes`):
    ``(costs (H, W, L), work, slots, prop (H, W), prop_work)``; reusable for every map of
    that shape (:mod:`ersm.core.workspace`)."""
    return (np.empty((H, W, L), dtype=np.float64), _new_work(H, W, L),
            _new_slots(L, H, W, K, n_res, n_tr, recycle), np.empty((H, W), dtype=np.int64),
            _new_work(H, W, L))


@njit(nogil=True, cache=True)
def _converge_adaptive(costs, pairwise, labels, reverse, binary_tie, max_visits, work, slots,
                       recycle, stats):
    """α-moves from ``labels`` (in place) in GCO's adaptive cycles (module docstring):
    labels in turn (``0 … L−1``, or ``L−1 … 0`` with ``reverse``); a label whose move
    fails leaves the current queue; a queue that shrank below half of its parent's is
    swept again on its own, a queue where every move failed hands back to the unvisited
    rest of its parent. Only strict decreases are taken, except in the first move when
    ``L = 2`` and ``binary_tie`` (it is then the canonical binary cut). Ends when every
    label failed since the last change (converged) or after ``max_visits`` visits. Adds
    visits and moves to ``stats[1:3]``; returns whether it converged."""
    L = costs.shape[2]
    H, W = labels.shape
    counts = work[3]
    table = np.empty(L, dtype=np.int64)
    for i in range(L):
        table[i] = L - 1 - i if reverse else i
    sizes = np.empty(L + 1, dtype=np.int64)
    sizes[0] = L
    depth = 1
    nxt = 0
    visits = 0
    converged = True
    while depth > 0:
        size = sizes[depth - 1]
        start = nxt
        while True:
            alpha = table[nxt]
            accepted = False
            if counts[alpha] != H * W:
                if visits >= max_visits:
                    converged = False
                    break
                visits += 1
                _, accepted = _visit(costs, pairwise, labels, alpha, work, slots, recycle,
                                     binary_tie and L == 2 and visits == 1)
                stats[2] += accepted
            if accepted:
                nxt += 1
            else:
                size -= 1
                table[nxt], table[size] = table[size], table[nxt]
            if nxt >= size:
                break
        if not converged:
            break
        if nxt == start:
            depth -= 1
            nxt = sizes[depth]
        elif size < sizes[depth - 1] // 2:
            nxt = 0
            sizes[depth] = size
            depth += 1
        else:
            nxt = 0
    stats[1] += visits
    return converged


@njit(nogil=True, cache=True)
def _converge(costs, pairwise, labels, reverse, tie_visits, max_visits, work, slots, recycle,
              stats, schedule):
    """α-moves from ``labels`` (in place) in the ``schedule`` (:data:`ADAPTIVE`: see
    :func:`_converge_adaptive`); :data:`CYCLIC`: labels in turn (``0 … L−1``, or
    ``L−1 … 0`` with ``reverse``) until ``L`` consecutive ones fail or ``max_visits``
    visits, the first ``tie_visits`` visits also taking zero-change moves (canonical cut
    tie-breaking). Adds visits and moves to ``stats[1:3]``; returns whether it converged
    (no α-move improves)."""
    seen = work[5]  # the label buffers may hold moves of another labelling: rebuild first
    seen[:] = -1
    seen[-1] = 0
    if schedule == ADAPTIVE:
        return _converge_adaptive(costs, pairwise, labels, reverse, tie_visits > 0,
                                  max_visits, work, slots, recycle, stats)
    L = costs.shape[2]
    H, W = labels.shape
    counts = work[3]
    visits = 0
    since = 0  # consecutive labels without an improvement
    step = 0
    while since < L and visits < max_visits:
        alpha = L - 1 - step if reverse else step
        step = step + 1 if step + 1 < L else 0
        visits += 1
        if counts[alpha] == H * W:  # all tokens α already: nothing can change
            since += 1
            continue
        _, accepted = _visit(costs, pairwise, labels, alpha, work, slots, recycle,
                             visits <= tie_visits)
        # an accepted α-move is optimal among α-moves: α cannot improve right after
        since = 1 if accepted else since + 1
        stats[2] += accepted
    stats[1] += visits
    return since >= L


@njit(nogil=True, cache=True)
def _expand_map(unary, pairwise, labels, max_cycles, recycle, polish, schedule, stats, ws):
    """α-expansion of one map from ``labels`` (updated in place); ``stats`` gets
    ``[energy, label visits, accepted moves, converged]``. With ``recycle`` the final
    flow of each label's move warm-starts that label's next move (Kohli–Torr dynamic
    cuts; the cut is the same canonical one). With ``polish`` the fusion polish of the
    module docstring follows: the forward run is the plain one (the same moves), the
    reverse-order run and the later moves warm-start from the flows left before them.
    ``ws`` is the scratch of :func:`new_workspace` (any earlier contents)."""
    L = unary.shape[0]
    costs, work, slots, prop, prop_work = ws
    for lab in range(L):
        costs[:, :, lab] = unary[lab]
    prop[:] = labels
    _start_work(work, labels)
    _start_slots(slots, recycle)
    max_visits = max_cycles * L
    polish = polish and L > 2  # L <= 2: the forward run is already the exact minimum
    converged = _converge(costs, pairwise, labels, False, L, max_visits, work, slots,
                          recycle, stats, schedule)
    if polish:  # the proposal: the same start, labels in reverse order (warm from here)
        _converge(costs, pairwise, prop, True, L, max_visits, _start_work(prop_work, prop),
                  slots, recycle, stats, schedule)
    rounds = 0
    while polish and converged and rounds < max_cycles:
        rounds += 1
        theta_b, w_b = slots[0], slots[1]
        b = slots[4][-1] if recycle else 0  # the spare buffer is free scratch
        _build_fusion(costs, pairwise, labels, prop, theta_b[b], w_b[b])
        _solve_map(theta_b[b], w_b[b], work[0])
        _, accepted = _take_cut(costs, pairwise, labels, -1, prop, work[0], work, False)
        if not accepted:
            break
        stats[2] += 1
        converged = _converge(costs, pairwise, labels, False, 0, max_visits, work, slots,
                              recycle, stats, schedule)
    stats[0] = potts_energy_map(unary, pairwise, labels)
    stats[3] = 1.0 if converged else 0.0


@njit(nogil=True, cache=True)
def _expand_range(start, stop, unary, pairwise, labels, max_cycles, recycle, polish,
                  schedule, stats, ws):
    for b in range(start, stop):
        _expand_map(unary[b], pairwise[b], labels[b], max_cycles, recycle, polish, schedule,
                    stats[b], ws)


def _expand_chunk(start: int, stop: int, unary: np.ndarray, pairwise: np.ndarray,
                  labels: np.ndarray, max_cycles: int, recycle: bool, polish: bool,
                  schedule: int, stats: np.ndarray) -> None:
    """:func:`_expand_range` with this thread's kept scratch for the batch's shape."""
    _, L, H, W = unary.shape
    K = pairwise.shape[1]
    ws = workspace("expansion", (L, H, W, K, recycle),
                   lambda: new_workspace(L, H, W, K, *grid_state_sizes(H, W, K), recycle))
    _expand_range(start, stop, unary, pairwise, labels, max_cycles, recycle, polish,
                  schedule, stats, ws)


def expansion_batch(unary: np.ndarray, pairwise: np.ndarray, labels: np.ndarray,
                    max_cycles: int, recycle: bool = True,
                    polish: bool = False,
                    schedule: int = ADAPTIVE) -> tuple[np.ndarray, np.ndarray]:
    """α-expansion of every map of a batch, batch-parallel (:func:`~ersm.core.parallel.run_batch`).

    Args:
        unary: ``(B, L, H, W)`` float64; pairwise: ``(B, K, H, W)`` float64, ``≥ 0``.
        labels: ``(B, H, W)`` int64 start labelling in ``[0, L)`` (not modified).
        max_cycles: most passes over the ``L`` labels per expansion run (and most fusion
            rounds), ``≥ 1``.
        recycle: warm-start each label's move from its previous flow (keeps ``L``
            residual graphs per map in flight: about ``L · 8 · (3K + 2) · H · W`` bytes).
        polish: fusion polish (module docstring): a second, reverse-order run and
            fusion moves with its result; about twice the time, never a higher energy.
        schedule: :data:`ADAPTIVE` (GCO's adaptive cycles) or :data:`CYCLIC`.

    Returns:
        ``(labels (B, H, W) int64, stats (B, 4) float64)`` with ``stats[b]`` =
        ``[energy, label visits, accepted moves (fusions included), converged (0/1)]``.
    """
    unary = np.ascontiguousarray(unary, dtype=np.float64)
    pairwise = np.ascontiguousarray(pairwise, dtype=np.float64)
    out = np.array(labels, dtype=np.int64, order="C", copy=True)
    stats = np.zeros((unary.shape[0], 4), dtype=np.float64)
    run_batch(_expand_chunk, unary.shape[0], unary, pairwise, out, int(max_cycles),
              bool(recycle), bool(polish), int(schedule), stats)
    return out, stats
