"""Warm BK cuts that keep their search trees (Kohli–Torr dynamic cuts with tree reuse).

:func:`ersm.solvers.kernels.bk._solve_map_warm` keeps the *flow* of a previous cut and
rebuilds both search trees from every node with a terminal residual: one full growth pass
over the grid even when the energy hardly changed (α-expansion: ~2 ms per 256² move that
switches nothing). Here the final trees of the previous cut are kept too, and only the
nodes whose terminal residual or arcs changed are revisited, as in Kolmogorov's
``maxflow.cpp`` with ``reuse_trees`` (``maxflow_reuse_trees_init``):

* every changed node becomes active; with a zero terminal residual it becomes an orphan
  (if it was in a tree), else a terminal child of the tree of its residual's sign;
* a node that changes tree orphans its children and activates its neighbours in the
  other tree that it has a residual arc with (an augmenting path may run there);
* orphans are adopted or freed as in BK (freeing activates the neighbours that could grow
  into them), then the usual BK loop runs.

Why the cut is still the canonical one: at the end of the previous cut every passive
source-tree node had residual arcs only into the source tree, and every node with a
non-zero terminal residual hung off its terminal. An arc or terminal residual that
changed belongs to a changed node, which is active or re-examined; a node that leaves the
source tree (or is freed) activates its source-tree neighbours with a residual arc into
it. So when no node is active the source tree is again closed under residual
reachability, i.e. exactly the nodes reachable from the source: the same canonical cut
as a cold solve on exact (e.g. dyadic) inputs; on generic floats the flow, and hence the
rounding, differs as for any warm start (see :mod:`ersm.solvers.kernels.bk`).

A state's trees are ``(tree uint8, parent int8, ts int32, dist int32, clock (1,) int64)``
per padded node: BK's time stamps and distances must stay those of *its* trees (its
TS/DIST heuristic re-parents a node only below nodes that are not its descendants when
stamps and distances are consistent; another state's stamps would break that and can close
a parent cycle). Queues and the change flags are scratch shared by all states of a map.
"""

from __future__ import annotations

import numpy as np

from ersm.core.numba_cache import njit

from .bk import (_FREE, _INLINE, _NO_NRT, _NO_PARENT, _ORPHAN, _SINK, _SOURCE, _TERMINAL,
                 _TIME_WRAP, _apply_energy_change, _bk_loop, _build_residuals,
                 _change_capacity, _direction_offsets, _mark, _maxflow, _process_orphan,
                 _push_trivial_paths, _ring_pop, _ring_push, _write_mask)

__all__ = ["change_edge", "change_unary", "new_scratch", "solve_keep_trees",
           "solve_reuse_marked", "solve_reuse_trees"]


@njit(nogil=True, cache=True)
def new_scratch(n):
    """Scratch of one map with ``n`` padded nodes, shared by its states: ``(in_q, active,
    orphans, stack, marked)``."""
    return (np.zeros(n, dtype=np.uint8), np.empty(n, dtype=np.int32),
            np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32),
            np.zeros(n, dtype=np.uint8))


@njit(nogil=True, cache=True)
def _next_time(ts, clock):
    """A time above every stamp in ``ts`` with room for a run (restarts the clock, zeroing
    the stamps, long before the kernel's own wrap)."""
    if clock[0] >= _TIME_WRAP // 2:
        ts[:] = 0
        clock[0] = 0
    return clock[0] + 1


@njit(nogil=True, cache=True)
def solve_keep_trees(unary, pairwise, out, res, tr, trees, scratch):
    """Cold cut of one map (as :func:`~ersm.solvers.kernels.bk._solve_map_keep`) that
    leaves its residual state in ``res``/``tr`` (zero on entry) and its search trees in
    ``trees`` (module docstring); writes the canonical keep-mask into ``out``."""
    tree, parent, ts, dist, clock = trees
    in_q, active, orphans, stack, _ = scratch
    H, W = unary.shape
    K = pairwise.shape[0]
    D = 2 * K
    off = _direction_offsets(K, W + 2)
    _build_residuals(unary, pairwise, off, res, tr)
    _push_trivial_paths(D, off, res, tr)
    tree[:] = _FREE
    parent[:] = _NO_PARENT
    ts[:] = 0
    dist[:] = 0
    clock[0] = _maxflow(D, off, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack)
    _write_mask(H, W, tree, out)


@njit(**_NO_NRT)
def _reuse_init(D, off, res, tr, tree, parent, ts, dist, in_q, active, orphans, marked, todo,
                n_todo, time):
    """Re-examine the changed nodes ``todo[:n_todo]`` (module docstring); returns the tail
    of ``active``."""
    half = D // 2
    a_tail = 0
    o_head = 0
    o_tail = 0
    for t in range(n_todo):
        i = todo[t]
        marked[i] = 0
        if in_q[i] == 0:
            in_q[i] = 1
            a_tail = _ring_push(active, a_tail, i)
        ti = tr[i]
        if ti == 0.0:
            if tree[i] != _FREE and parent[i] != _ORPHAN:
                parent[i] = _ORPHAN
                o_tail = _ring_push(orphans, o_tail, i)
            continue
        label = _SOURCE if ti > 0.0 else _SINK
        if tree[i] != label:
            tree[i] = label
            for d in range(D):
                j = i + off[d]
                tj = tree[j]
                if tj == _FREE or marked[j] != 0:
                    continue
                rd = d ^ half
                if parent[j] == rd:  # j hung from i in i's old tree
                    parent[j] = _ORPHAN
                    o_tail = _ring_push(orphans, o_tail, j)
                if tj != label and in_q[j] == 0:
                    r = res[i * D + d] if label == _SOURCE else res[j * D + rd]
                    if r > 0.0:
                        in_q[j] = 1
                        a_tail = _ring_push(active, a_tail, j)
        parent[i] = _TERMINAL
        ts[i] = time
        dist[i] = 1
    while o_head != o_tail:
        k, o_head = _ring_pop(orphans, o_head)
        a_tail, o_tail = _process_orphan(k, D, off, res, tree, parent, ts, dist, time,
                                         in_q, active, a_tail, orphans, o_tail)
    return a_tail


@njit(nogil=True, cache=True)
def solve_reuse_trees(unary0, pairwise0, unary, pairwise, out, res, tr, trees, scratch):
    """Warm cut of one map from the final state (``res``, ``tr``, ``trees``, left by
    :func:`solve_keep_trees` or this function) of the energy ``(unary0, pairwise0)``: the
    new energy ``(unary, pairwise)``'s canonical keep-mask goes into ``out`` and its final
    state replaces the old one in place."""
    _, _, _, stack, marked = scratch
    K = pairwise.shape[0]
    off = _direction_offsets(K, unary.shape[1] + 2)
    n_todo = _apply_energy_change(unary0, pairwise0, unary, pairwise, off, res, tr, marked,
                                  stack, True)
    solve_reuse_marked(unary.shape[0], unary.shape[1], K, out, res, tr, trees, scratch,
                       n_todo)


@njit(nogil=True, cache=True)
def solve_reuse_marked(H, W, K, out, res, tr, trees, scratch, n_todo):
    """Warm cut of an ``H × W`` map with ``K`` channels whose energy change the caller
    has already applied to the final state ``res``/``tr`` (as :func:`change_unary` and
    :func:`change_edge` do), listing the changed padded nodes in ``scratch``'s
    ``stack[:n_todo]`` (flagged in its ``marked``); the canonical keep-mask goes into
    ``out``."""
    tree, parent, ts, dist, clock = trees
    in_q, active, orphans, stack, marked = scratch
    D = 2 * K
    off = _direction_offsets(K, W + 2)
    time = _next_time(ts, clock)
    a_tail = _reuse_init(D, off, res, tr, tree, parent, ts, dist, in_q, active, orphans,
                         marked, stack, n_todo, time)
    clock[0] = _bk_loop(D, off, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack,
                        a_tail, time + 1, 0, tr.shape[0])
    _write_mask(H, W, tree, out)


@njit(**_INLINE)
def change_unary(tr, i, u0, u1, marked, todo, n_todo):
    """Unary of padded node ``i`` from ``u0`` to ``u1`` in a final state (Kohli–Torr: the
    terminal residual moves by the difference); returns the new ``todo`` length."""
    if u1 == u0:
        return n_todo
    tr[i] += u1 - u0
    return _mark(i, marked, todo, n_todo)


@njit(**_INLINE)
def change_edge(res, tr, D, K, off, i, k, w0, w1, marked, todo, n_todo):
    """Weight of the channel-``k`` edge from padded node ``i`` from ``w0`` to ``w1`` in a
    final state: flow above the new capacity is handed back to the two terminal residuals
    (as :func:`~ersm.solvers.kernels.bk._apply_energy_change`); returns the new ``todo``
    length."""
    if w1 == w0:
        return n_todo
    j = i + off[k]
    _change_capacity(res, tr, i, j, i * D + k, j * D + k + K, w1, w1 - w0)
    n_todo = _mark(i, marked, todo, n_todo)
    return _mark(j, marked, todo, n_todo)
