"""Incremental breadth-first search (IBFS) max-flow / min-cut on 2-D grids (Numba, float64).

Issue 15 prototype, not wired into a backend: the algorithm of Goldberg, Hed, Kaplan,
Tarjan and Werneck ("Maximum flows by incremental breadth-first search", ESA 2011),
specialised to the padded grid layout of :mod:`ersm.solvers.kernels.bk` (same residual
arrays, signed terminal residual ``tr``, trivial-path sweep and augmentation). Maps of at
least ``bk.STRIP_MIN_TOKENS`` tokens are solved in bk's strips, IBFS on each, then bk's
join (see :func:`_solve_map`). Measured against BK in bench/RESULTS.md ("Round 3
(helper): IBFS"): about 1.1x less CPU (median over the real pictures), not enough to
replace it.

Like BK it grows a source tree S and a sink tree T, but each is a *BFS tree*: every node
carries its level ``dist`` (1 for terminal roots), a tree arc joins levels ``l - 1`` and
``l``, and labels are valid (a residual arc ``u -> v`` inside S has ``dist[v] <= dist[u] +
1``, inside T ``dist[u] <= dist[v] + 1``), so a tree neighbour one level down is the only
kind of parent there can be. Growth is by passes, alternating between the trees while
both frontiers are non-empty (measured: growing the smaller frontier starves T and
triples the orphans): a pass scans every node of the tree's frontier level ``F`` (free
neighbours join at ``F + 1``; a neighbour in the other tree gives an augmenting path of
``dist[s] + dist[t]`` nodes, a shortest one), then ``F`` advances. Orphans are processed
level by level (buckets): an orphan first looks for a parent one level down from its
*current arc* on (earlier arcs are known inadmissible: levels only grow), else it is
relabelled to ``1 + min`` level of its residual tree neighbours, or freed when that is
above its tree's top level (``F``, or ``F + 1`` during the tree's own pass); either way its
children become orphans. No walk to the root is ever needed.

Canonical mask: every S node below the frontier has been scanned, and a scanned node's
residual out-neighbours stay in S (a node with a residual in-arc from a level ``< F`` node
is relabelled, never freed; augmentation adds residual only on reversed tree arcs and on
T -> S arcs). The loop ends when S's frontier is empty: S is then closed under residual
arcs, holds every ``tr > 0`` node and equals the set reachable from the source, so
``mask = not in S`` is BK's canonical cut (float arithmetic of the augmentations is the
same exact ``r - delta`` scheme, see bk's module docstring). Levels never exceed the
number of grid nodes (a level-``L`` node heads a tree path of ``L`` distinct nodes once
its adoption phase ends), so the level buckets and lists of length ``n`` suffice.

Memory per token: bk's ``res``/``tr``, plus ``tree``/``parent``/``cur`` (1 B each),
``dist``/``listed`` (4 B each), four level lists, orphan links and the path record (4 B
each), level buckets (4 B per token of one strip at a time): about 76-79 B 4-conn /
108-111 B 8-conn, some 20 B more than BK (56 / 88 B); the join reuses these arrays.
"""

from __future__ import annotations

import numpy as np

from ersm.core.numba_cache import njit
from ersm.core.parallel import run_batch
from ersm.solvers.kernels.bk import (_FREE, _INLINE, _NO_NRT, _NO_PARENT, _ORPHAN, _SINK,
                                     _SOURCE, _TERMINAL, _augment, _build_rows,
                                     _direction_offsets, _join_strips, _push_trivial_range,
                                     _strip_count, _strip_rows, _write_mask)

__all__ = ["ibfs_mincut_batch"]

# rows of the level lists: S current / next = sc / 1 - sc, T current / next = 2 + tc / 3 - tc
_BIG = np.int32(2**31 - 1)



@njit(**_INLINE)
def _list_push(v, row, code, listed, lists, st):
    """Append ``v`` to level list ``row`` unless it is already listed under ``code``
    (``2 * level`` for S, ``2 * level + 1`` for T)."""
    if listed[v] != code:
        listed[v] = code
        c = st[5 + row]
        lists[row, c] = v
        st[5 + row] = c + 1


@njit(**_INLINE)
def _join(w, label, pd, level, row, code, tree, parent, dist, cur, listed, lists, st):
    """Free node ``w`` joins tree ``label`` at ``level`` under the arc (or terminal) ``pd``;
    listed in level list ``row`` under ``code``."""
    tree[w] = label
    parent[w] = pd
    dist[w] = level
    cur[w] = 0
    _list_push(w, row, code, listed, lists, st)


@njit(**_INLINE)
def _orphan(v, D, off, res, tree, parent, dist, cur, listed, lists, st, bhead, onext):
    """Adopt orphan ``v`` one level down (from its current arc on), else relabel it to
    ``1 + min`` level of its residual tree neighbours, else free it (also when it already
    sits at its tree's top level); when its level changes its children become orphans
    (bucketed by level in ``bhead``/``onext``). Returns the highest orphan level added."""
    half = D // 2
    label = tree[v]
    src = label == _SOURCE
    dv = dist[v]
    for d in range(cur[v], D):
        u = v + off[d]
        if tree[u] == label and dist[u] < dv:
            r = res[u * D + (d ^ half)] if src else res[v * D + d]
            if r > 0.0:
                parent[v] = d
                cur[v] = d
                return 0
    t = 0 if src else 1
    F = st[t]
    limit = F + 1 if st[2] == label else F
    # One sweep: the lowest residual tree neighbour (for the relabel) and the children
    # (orphaned whatever happens: they sit at dv + 1 <= the new level, or v is freed).
    best = -1
    dmin = _BIG
    top = 0
    lc = dv + 1
    for d in range(D):
        u = v + off[d]
        if tree[u] != label:
            continue
        if parent[u] == (d ^ half):
            parent[u] = _ORPHAN
            onext[u] = bhead[lc]
            bhead[lc] = u
            top = lc
        if dist[u] < dmin:
            r = res[u * D + (d ^ half)] if src else res[v * D + d]
            if r > 0.0:
                dmin = dist[u]
                best = d
    if best >= 0 and dmin < limit:
        nd = dmin + 1
        dist[v] = nd
        parent[v] = best
        cur[v] = best
        sel = st[3 + t]
        code = 2 * nd + t
        if nd == F:
            _list_push(v, 2 * t + sel, code, listed, lists, st)
        elif nd == F + 1:
            _list_push(v, 2 * t + 1 - sel, code, listed, lists, st)
    else:
        tree[v] = _FREE
        parent[v] = _NO_PARENT
    return top


@njit(**_INLINE)
def _adopt_all(lo, hi, D, off, res, tree, parent, dist, cur, listed, lists, st, bhead, onext):
    """Process the bucketed orphans level by level, from ``lo`` up to the last level
    holding any (children land one level above their parent)."""
    L = lo
    while L <= hi:
        v = bhead[L]
        while v >= 0:
            bhead[L] = onext[v]
            top = _orphan(v, D, off, res, tree, parent, dist, cur, listed, lists, st, bhead, onext)
            if top > hi:
                hi = top
            v = bhead[L]
        L += 1


@njit(**_INLINE)
def _pass(label, t, D, off, res, tr, tree, parent, dist, cur, listed, lists, st, bhead, onext,
          stack):
    """One growth pass of tree ``label`` (``t``: 0 for S, 1 for T) over its frontier level;
    returns the size of the next level's list. Called with constant ``label``/``t`` so
    that each tree gets its own compiled loop."""
    half = D // 2
    sel = st[3 + t]
    crow = 2 * t + sel
    nrow = 2 * t + 1 - sel
    st[2] = label
    st[5 + nrow] = 0
    F = st[t]
    code = 2 * (F + 1) + t
    idx = 0
    while idx < st[5 + crow]:
        v = lists[crow, idx]
        idx += 1
        if tree[v] != label or dist[v] != F:
            continue
        d = 0
        while d < D:
            w = v + off[d]
            tw = tree[w]
            if label == _SOURCE:
                if tw == _SOURCE or res[v * D + d] <= 0.0:
                    d += 1
                    continue
                if tw == _FREE:
                    _join(w, _SOURCE, d ^ half, F + 1, nrow, code, tree, parent, dist, cur,
                          listed, lists, st)
                    d += 1
                    continue
                s_node = v
                s_dir = d
            else:
                rd = d ^ half
                if tw == _SINK or res[w * D + rd] <= 0.0:
                    d += 1
                    continue
                if tw == _FREE:
                    _join(w, _SINK, rd, F + 1, nrow, code, tree, parent, dist, cur, listed,
                          lists, st)
                    d += 1
                    continue
                s_node = w
                s_dir = rd
            top = _augment(s_node, s_dir, D, off, res, tr, parent, stack)
            lo = _BIG
            hi = 0
            for idx2 in range(top):
                k = stack[idx2]
                lk = dist[k]
                onext[k] = bhead[lk]
                bhead[lk] = k
                if lk < lo:
                    lo = lk
                if lk > hi:
                    hi = lk
            if top > 0:
                _adopt_all(lo, hi, D, off, res, tree, parent, dist, cur, listed, lists, st,
                           bhead, onext)
            if tree[v] != label or dist[v] != F:
                break
    st[2] = 0
    st[t] = F + 1
    st[3 + t] = 1 - sel
    return st[5 + nrow]


@njit(**_NO_NRT)
def _ibfs_loop(D, off, res, tr, tree, parent, dist, cur, listed, lists, st, bhead, onext, stack,
               both):
    """IBFS passes until S's frontier is empty (S is then the reachable set), and with
    ``both`` until T's is empty too (T is then every node that reaches the sink).

    ``st``: ``[F_s, F_t, growing tree label or 0, S row select, T row select, counts of
    the four level lists, last pass was T]``; the lists hold the terminal roots on entry;
    ``bhead`` is all -1 (empty orphan buckets)."""
    while True:
        ns = st[5 + st[3]]
        nt = st[7 + st[4]]
        if ns == 0 and (nt == 0 or not both):
            return
        st[9] = 1 - st[9]  # alternate, while both frontiers are non-empty
        if nt > 0 and (st[9] == 1 or ns == 0):
            _pass(_SINK, 1, D, off, res, tr, tree, parent, dist, cur, listed, lists, st, bhead,
                  onext, stack)
        else:
            _pass(_SOURCE, 0, D, off, res, tr, tree, parent, dist, cur, listed, lists, st,
                  bhead, onext, stack)


@njit(nogil=True, cache=True)
def _ibfs_range(D, off, res, tr, tree, parent, dist, cur, listed, lists, onext, stack, lo, hi,
                both):
    """IBFS on the nodes ``lo <= i < hi`` (a whole map, or a strip whose seam arcs are
    zero): every ``tr != 0`` node there becomes a level-1 root, then :func:`_ibfs_loop`.
    ``lists`` is ``(4, >= hi - lo)`` scratch."""
    st = np.zeros(10, dtype=np.int64)
    st[0] = 1
    st[1] = 1
    for i in range(lo, hi):
        if tr[i] > 0.0:
            _join(i, _SOURCE, _TERMINAL, 1, 0, 2, tree, parent, dist, cur, listed, lists, st)
        elif tr[i] < 0.0:
            _join(i, _SINK, _TERMINAL, 1, 2, 3, tree, parent, dist, cur, listed, lists, st)
    _ibfs_loop(D, off, res, tr, tree, parent, dist, cur, listed, lists, st,
               np.full(hi - lo + 3, -1, dtype=np.int32), onext, stack, both)


@njit(nogil=True, cache=True)
def _solve_map(unary, pairwise, out):
    """Exact min cut of one ``(H, W)`` map; the canonical keep-mask into ``out``.

    Maps of at least ``bk.STRIP_MIN_TOKENS`` tokens are cut into bk's strips (seam arcs
    zero): IBFS runs on each strip until *both* its trees are closed, so every tree node
    away from the seams satisfies BK's invariant (a passive node's residual arcs stay in
    its tree); bk's join then restores the seam arcs and continues BK from these trees
    with the seam rows active (see bk's strips comment): the same canonical cut."""
    H, W = unary.shape
    K = pairwise.shape[0]
    D = 2 * K
    Wp = W + 2
    n = (H + 2) * Wp
    P = _strip_count(H, W)
    ys = _strip_rows(H, P)
    off = _direction_offsets(K, Wp)
    res = np.zeros(n * D, dtype=np.float64)
    tr = np.zeros(n, dtype=np.float64)
    tree = np.zeros(n, dtype=np.uint8)
    parent = np.full(n, _NO_PARENT, dtype=np.int8)
    dist = np.zeros(n, dtype=np.int32)
    cur = np.zeros(n, dtype=np.uint8)
    listed = np.zeros(n, dtype=np.int32)
    lists = np.empty((4, n), dtype=np.int32)
    onext = np.empty(n, dtype=np.int32)
    stack = np.empty(n, dtype=np.int32)
    for s in range(P):
        lo = (ys[s] + 1) * Wp
        hi = (ys[s + 1] + 1) * Wp
        _build_rows(unary, pairwise, off, res, tr, ys[s], ys[s + 1])
        _push_trivial_range(D, off, res, tr, lo, hi)
        _ibfs_range(D, off, res, tr, tree, parent, dist, cur, listed, lists[:, lo:hi], onext,
                    stack, lo, hi, P > 1)
    if P == 1:
        _write_mask(H, W, tree, out)
        return
    # bk's join, its work arrays carved from ours: stamps (zeroed `listed`), in-queue flags
    # (zeroed `cur`), active ring (a row of `lists`), orphan ring (`onext`).
    listed[:] = 0
    cur[:] = 0
    _join_strips(unary, pairwise, ys, out, off, res, tr, tree, parent, listed, dist, cur,
                 lists[0], onext, stack, np.zeros(P, dtype=np.int64))


@njit(nogil=True, cache=True)
def _solve_range(start, stop, unary, pairwise, out):
    for b in range(start, stop):
        _solve_map(unary[b], pairwise[b], out[b])


def ibfs_mincut_batch(unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """Canonical keep-mask of every map by IBFS (same contract and result as
    :func:`ersm.solvers.kernels.bk.grid_mincut_batch`).

    Args:
        unary: ``(B, H, W)`` θ, cast to float64.
        pairwise: ``(B, K, H, W)`` weights ``>= 0``, ``K`` in {2, 4}, cast to float64.

    Returns:
        ``(B, H, W)`` bool: True iff the token is not reachable from the source in the
        final residual graph. Maps are solved one piece each, batch-parallel.
    """
    B, H, W = unary.shape
    K = pairwise.shape[1] if pairwise.ndim == 4 else 0
    assert pairwise.shape == (B, K, H, W) and K in (2, 4), "expected (B,H,W), (B,2|4,H,W)"
    assert 0 < H * W and (H + 2) * (W + 2) < 2**30, "empty grid or too large for int32"
    out = np.empty((B, H, W), dtype=np.bool_)
    unary, pairwise = (np.ascontiguousarray(a, dtype=np.float64) for a in (unary, pairwise))
    run_batch(_solve_range, B, unary, pairwise, out)
    return out
