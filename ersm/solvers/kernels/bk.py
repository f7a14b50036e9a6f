"""Boykov–Kolmogorov max-flow / min-cut on 2-D grid graphs (Numba, float64, batched).

Problem
-------
For every map ``b`` we minimise

    E(m) = sum_i theta_i m_i + sum_{(i,j)} w_ij [m_i != m_j],   m in {0, 1}^(H*W)

with ``theta = unary[b]`` (any sign) and the grid edges of ``pairwise[b]`` (see
:mod:`ersm.energy.offsets` for the channel convention; weights of edges that leave
the grid are ignored). The graph has a source edge ``s -> i`` of capacity
``max(theta_i, 0)`` (cut when ``i`` is kept), a sink edge ``i -> t`` of capacity
``max(-theta_i, 0)`` and every grid edge in both directions with capacity ``w``.
Kept tokens are the sink side of the cut.

Algorithm
---------
This is Kolmogorov's ``maxflow.cpp`` (BK, "An experimental comparison of min-cut/
max-flow algorithms", PAMI 2004) specialised to grids:

* The grid is padded with a one-cell border of *dead* nodes, so the neighbour of
  node ``i`` in direction ``d`` is simply ``i + off[d]``. All residuals into and out
  of the border are zero, hence dead nodes are never reached and never join a tree.
* Residuals are stored flat as ``res[i * D + d]`` with ``D = 4`` (right, down, left,
  up) or ``D = 8`` (right, down, down-right, down-left and their reverses). The
  reverse direction is ``d ^ (D // 2)``, and for ``d < D // 2`` direction ``d`` is
  pairwise channel ``k = d``.
* The two terminal edges of a node are folded into one signed residual
  ``tr[i] = theta_i``: positive means residual capacity from the source, negative
  means residual capacity to the sink. Its sign never changes, so a node with
  ``tr != 0`` always hangs directly off its terminal.
* Before the trees are built, every length-1 path ``s -> i -> j -> t`` is
  saturated in one linear sweep (these are BK's first augmentations anyway;
  doing them greedily is much cheaper, e.g. 15x on a checkerboard).
* Every node with ``tr != 0`` becomes a root of its terminal's tree; only roots on a
  tree's frontier start active (:func:`_activate_terminals`: on pictures most roots
  have residual arcs to same-tree roots only, and growing them would find nothing).
* Two search trees (source / sink) grow from a FIFO of active nodes; when they
  touch, the path is augmented by its bottleneck (terminal residuals included; one
  walk up both trees finds it and records the path, the updates run over that
  record), saturated tree arcs turn their child into an orphan, and orphans are
  re-adopted with BK's timestamp / distance heuristics (TS, DIST, "origin is a
  terminal" check) or freed, in which case their same-tree neighbours are
  re-activated. Orphans are processed in ``maxflow.cpp``'s order (see
  :func:`_maxflow`).
* 8-connected maps of at most :data:`PREFLOW_MAX_TOKENS` tokens (crops, feature grids)
  skip BK: after the trivial-path sweep a push-relabel maximum preflow
  (:mod:`.push_relabel`) and its source side give the same canonical cut, measured
  1.4-1.5x faster there (BK stays faster on larger and on 4-connected maps).
* Maps of at least :data:`STRIP_MIN_TOKENS` tokens are solved in 2-8 horizontal
  strips (:func:`_strip_count`; independent BK runs, in parallel when threads are
  free) joined by a last BK run across the seams that starts from the strips' trees
  (see the comment above :data:`STRIP_MIN_TOKENS`); the result is the same
  canonical cut.

Canonical cut
-------------
The algorithm keeps the invariant that every *passive* source-tree node has
residual arcs only into the source tree (active nodes form the frontier; a freed
orphan re-activates every source-tree neighbour with a residual arc into it), and
every node with ``tr > 0`` is in the source tree. At termination no node is
active, so the source tree is closed under residual reachability; since every
tree node has a residual path from the source, the source tree *equals* the set
of nodes reachable from the source in the final residual graph. We return
``mask = not in source tree`` (free nodes are kept). That set is the unique
minimal source side over all minimum cuts, hence independent of the max-flow
algorithm and of processing order.

Float exactness
---------------
No capacity is quantised. The bottleneck ``delta`` is the minimum of the residuals
along the path, so for every arc on the path ``r - delta`` is computed with
``0 <= delta <= r``; IEEE subtraction is monotone and exact at equality, so the
result is ``>= 0`` and is ``0.0`` exactly when ``r == delta`` (the same holds for
``tr + delta`` on the sink side, where ``tr <= -delta``). Hence saturation is
detected exactly, residuals never go negative, every augmentation saturates at
least one arc, and all tests use ``> 0.0``. The only rounding happens when
``delta`` is *added* to reverse residuals; for inputs whose partial sums are
exactly representable (e.g. dyadic rationals of moderate size) the whole run is
exact and the mask equals the canonical one bit for bit. Otherwise the returned
cut is optimal up to accumulated rounding of order ``eps * (sum of capacities)``;
in particular, when the real-valued problem has *exactly* tied optima (e.g. a
balanced checkerboard with weights 0.3) a rounding residue of ~1e-16 may decide
the tie, so the mask is then one of the optimal masks but not necessarily the
canonical one.

Warm start (dynamic graph cuts)
-------------------------------
:func:`grid_mincut_batch_warm` also returns the final residual state of every map
(``res`` of length ``n * D`` and ``tr`` of length ``n``, ``n = (H + 2) * (W + 2)``,
in the padded layout above) and can start from such a state for a *new* energy of
the same shape (Kohli & Torr, "Dynamic graph cuts", ICCV 2005 / PAMI 2007). A
state is a grid flow ``f`` (``f_ij`` = net flow ``i -> j``, ``res_ij = w_ij - f_ij``,
``res_ji = w_ij + f_ij``) together with ``tr_i = theta_i - sum_j f_ij``. For *any*
flow with ``|f_ij| <= w_ij`` and any real ``tr``,

    E(m) = sum_i tr_i m_i + sum_{i dropped, j kept} res_ij,

i.e. the energy equals the cut of the residual graph with signed terminal
residuals ``tr`` (no sign constraint on ``tr``: a node whose grid outflow exceeds
its new ``theta`` simply gets ``tr < 0``, which is Kohli–Torr's "add a constant to
both terminal edges" reparametrisation, already implicit in the folded
representation). So for the new energy ``(theta', w')`` we keep the flow and set

* ``tr_i += theta'_i - theta_i`` for every node (exactly ``tr' = theta' - netout``);
* for every in-grid edge whose weight changed, ``res_ij += dw`` and
  ``res_ji += dw`` (``dw = w' - w``); if one of them, say ``res_ij``, would become
  negative (``f_ij > w'``), the flow is reduced to the capacity: ``res_ij = 0``,
  ``res_ji = 2 w'`` and the excess ``e = -(res_ij + dw)`` goes to the endpoints'
  terminal residuals, ``tr_i += e``, ``tr_j -= e``.

The result is a valid residual graph of the new energy (up to a constant), so
running BK from it (trees rebuilt from scratch with every ``tr != 0`` node as a
terminal root, those on a frontier active, then the usual growth/augment/adopt loop;
the trivial-path sweep is skipped, as almost all short paths are still saturated)
ends at a maximum flow of the new graph, and the reachable set is again the
*canonical* cut: it depends only on the energy, not on the starting flow. On
dyadic inputs (all updates exact) the warm mask equals the cold mask bit for bit;
for generic floats the updates add rounding of order ``eps * |capacity|``, with
the same consequences as described above (optimal up to rounding; exactly tied
optima may be resolved differently than by a cold solve). The carried flow has the
size of the *old* capacities, so the rounding is relative to both energies:
warm-starting from an energy of much larger magnitude (e.g. 1e9 times larger)
loses that much relative precision on the new one; solve such a step cold.
"""

from __future__ import annotations

import numpy as np

from ersm.core.numba_cache import njit
from ersm.core.parallel import num_threads, run_batch
from ersm.core.workspace import workspace
from ersm.energy.offsets import OFFSETS
from ersm.energy.potts_sum import mask_energy_map, mask_energy_numpy, rescale_overflowed

from .grid_common import (_D4, _D8, _INLINE, _NO_NRT, _U, _directions,  # noqa: F401
                          _ring_pop, _ring_push)
from .push_relabel import preflow_cut

__all__ = ["grid_mincut_batch", "grid_mincut_batch_warm", "grid_state_sizes"]

# Tree labels.
_FREE = 0
_SOURCE = 1
_SINK = 2

# Special parent codes (real parents are directions 0..D-1 <= 7).
_TERMINAL = 8
_ORPHAN = 9
_NO_PARENT = 10

_DIST_INF = np.int64(1) << 60
# Time stamps and distances are int32 (8 bytes per node less than int64); the clock
# restarts (all stamps zeroed) before it could overflow. Stamps only steer the TS/DIST
# heuristic and mark "verified in this adoption phase", which a restart between two
# growth steps keeps correct.
_TIME_WRAP = 1 << 30

def _direction_type(K: int) -> tuple:
    """The direction tuple of ``K`` pairwise channels (4- or 8-connectivity)."""
    return _D4 if K == 2 else _D8


# (dy, dx) per pairwise channel k, frozen as compile-time constants.
_DY = np.array([o[0] for o in OFFSETS], dtype=np.int64)
_DX = np.array([o[1] for o in OFFSETS], dtype=np.int64)


# --------------------------------------------------------------------------- setup


@njit(nogil=True, cache=True)
def _direction_offsets(K, Wp):
    """Flat index offset of each of the ``D = 2K`` directions on the padded grid."""
    off = np.empty(2 * K, dtype=np.int64)
    for k in range(K):
        off[k] = _DY[k] * Wp + _DX[k]
        off[k + K] = -off[k]
    return off


@njit(**_NO_NRT)
def _build_residuals(unary, pairwise, off, res, tr):
    """Fill ``tr`` (signed terminal residual) and ``res`` (grid arcs, both ways).

    ``res`` and ``tr`` must be zero on entry; arcs leaving the grid stay zero.
    """
    _build_rows(unary, pairwise, off, res, tr, 0, unary.shape[0])


@njit(**_NO_NRT)
def _build_rows(unary, pairwise, off, res, tr, y0, y1):
    """:func:`_build_residuals` for grid rows ``y0 <= y < y1``: their terminal
    residuals and the arcs (both ways) of the edges with both ends in these rows."""
    W = unary.shape[1]
    K = pairwise.shape[0]
    D = 2 * K
    Wp = W + 2
    for y in range(y0, y1):
        row = (y + 1) * Wp + 1
        for x in range(W):
            tr[_U(row + x)] = unary[y, x]
    for k in range(K):
        dy = _DY[k]
        dx = _DX[k]
        y_end = y1 - dy  # dy >= 0
        x_lo = 0 if dx >= 0 else -dx
        x_hi = W - dx if dx >= 0 else W
        for y in range(y0, y_end):
            row = (y + 1) * Wp + 1
            for x in range(x_lo, x_hi):
                w = pairwise[k, y, x]
                i = row + x
                j = i + off[_U(k)]
                res[_U(i * D + k)] = w
                res[_U(j * D + k + K)] = w


@njit(**_NO_NRT)
def _push_trivial_paths(D, off, res, tr):
    """Saturate all length-1 paths source -> i -> j -> sink up front.

    BK would find these short paths first anyway; saturating them in one
    linear sweep avoids growing and tearing down trees for them. Uses the same
    exact ``r - delta`` arithmetic as :func:`_augment`.
    """
    _push_trivial_range(D, off, res, tr, 0, tr.shape[0])


@njit(**_NO_NRT)
def _push_trivial_range(D, off, res, tr, lo, hi):
    """:func:`_push_trivial_paths` for the nodes ``lo <= i < hi``. The neighbour's ``tr``
    is tested before the arc (it is in a nearby line, and most neighbours are not sink
    nodes), ``tr[i]`` stays in a register; the pushes are those of testing the arc
    first, in the same order. A neighbour behind a zeroed (seam) arc may be read while
    another strip writes it, but then the zero arc decides, never its value."""
    D = _directions(D)
    half = D // 2
    for i in range(lo, hi):
        ti = tr[_U(i)]
        if ti <= 0.0:
            continue
        for d in range(D):
            j = i + off[_U(d)]
            tj = tr[_U(j)]
            if tj < 0.0:
                e = i * D + d
                delta = res[_U(e)]
                if delta > 0.0:
                    if ti < delta:
                        delta = ti
                    if -tj < delta:
                        delta = -tj
                    res[_U(e)] -= delta
                    res[_U(j * D + (d ^ half))] += delta
                    ti -= delta
                    tr[_U(j)] = tj + delta
                    if ti == 0.0:
                        break
        tr[_U(i)] = ti


# ---------------------------------------------------------------------- growth


@njit(**_INLINE)
def _grow(i, D, off, res, tree, parent, ts, dist, in_q, active, a_tail):
    """Process active node ``i``: extend its tree to free neighbours over
    non-saturated arcs (and shorten paths via BK's TS/DIST heuristic).

    Returns ``(s, d, a_tail)``: if the trees touch, ``s`` is the source-tree end
    of the connecting arc ``s -> s + off[d]``, else ``s = -1``.
    """
    D = _directions(D)
    half = D // 2
    iu = _U(i)
    ts_i = ts[iu]
    dist_i = dist[iu]
    if tree[iu] == _SOURCE:
        base = i * D
        for d in range(D):
            if res[_U(base + d)] > 0.0:  # arc i -> j
                j = _U(i + off[d])
                tj = tree[j]
                if tj == _FREE:
                    tree[j] = _SOURCE
                    parent[j] = d ^ half
                    ts[j] = ts_i
                    dist[j] = dist_i + 1
                    if in_q[j] == 0:
                        in_q[j] = 1
                        a_tail = _ring_push(active, a_tail, j)
                elif tj == _SINK:
                    return i, d, a_tail
                elif ts[j] <= ts_i and dist[j] > dist_i:
                    parent[j] = d ^ half
                    ts[j] = ts_i
                    dist[j] = dist_i + 1
    else:
        for d in range(D):
            j = i + off[d]
            ju = _U(j)
            rd = d ^ half
            tj = tree[ju]
            # A sink-tree neighbour that the TS/DIST rule would not re-parent is
            # skipped before its arc j -> i (in j's cache line) is read.
            if tj == _SINK and (ts[ju] > ts_i or dist[ju] <= dist_i):
                continue
            if res[_U(j * D + rd)] > 0.0:  # arc j -> i
                if tj == _FREE:
                    tree[ju] = _SINK
                    parent[ju] = rd
                    ts[ju] = ts_i
                    dist[ju] = dist_i + 1
                    if in_q[ju] == 0:
                        in_q[ju] = 1
                        a_tail = _ring_push(active, a_tail, j)
                elif tj == _SOURCE:
                    return j, rd, a_tail
                else:
                    parent[ju] = rd
                    ts[ju] = ts_i
                    dist[ju] = dist_i + 1
    return -1, -1, a_tail


# ---------------------------------------------------------------- augmentation


@njit(**_INLINE)
def _augment(s, d, D, off, res, tr, parent, stack):
    """Push the bottleneck along source -> ... -> s -d-> t -> ... -> sink.

    ``s`` is in the source tree, ``t = s + off[d]`` in the sink tree. The first pass
    walks both tree paths once, takes the bottleneck and records the path's nodes in
    ``stack`` (source side from ``s`` up, then sink side from ``t`` up); the second
    pass updates the residuals from that record (independent iterations instead of a
    second chain of dependent parent loads). Children of arcs that become exactly
    saturated are made orphans and written over the consumed record entries, in the
    same order (so the sink orphan nearest to its terminal is on top). Returns the
    number of orphans.
    """
    D = _directions(D)
    half = D // 2
    t = s + off[_U(d)]
    delta = res[_U(s * D + d)]

    # Bottleneck on the source side (flow runs parent -> child), recording the path.
    n_path = 0
    k = s
    while True:
        stack[_U(n_path)] = k
        n_path += 1
        p = parent[_U(k)]
        if p == _TERMINAL:
            if tr[_U(k)] < delta:
                delta = tr[_U(k)]
            break
        q = k + off[_U(p)]
        r = res[_U(q * D + (p ^ half))]
        if r < delta:
            delta = r
        k = q
    n_source = n_path
    # Bottleneck on the sink side (flow runs child -> parent).
    k = t
    while True:
        stack[_U(n_path)] = k
        n_path += 1
        p = parent[_U(k)]
        if p == _TERMINAL:
            if -tr[_U(k)] < delta:
                delta = -tr[_U(k)]
            break
        r = res[_U(k * D + p)]
        if r < delta:
            delta = r
        k += off[_U(p)]

    # Middle arc (never a tree arc, so no orphan).
    res[_U(s * D + d)] -= delta
    res[_U(t * D + (d ^ half))] += delta

    # Update pass; ``top <= idx`` always, so an orphan only overwrites a read entry.
    top = 0
    for idx in range(n_source):
        k = stack[_U(idx)]
        p = parent[_U(k)]
        if p == _TERMINAL:
            tr[_U(k)] -= delta
            saturated = tr[_U(k)] == 0.0
        else:
            res[_U(k * D + p)] += delta
            e = (k + off[_U(p)]) * D + (p ^ half)
            res[_U(e)] -= delta
            saturated = res[_U(e)] == 0.0
        if saturated:
            parent[_U(k)] = _ORPHAN
            stack[_U(top)] = k
            top += 1
    for idx in range(n_source, n_path):
        k = stack[_U(idx)]
        p = parent[_U(k)]
        if p == _TERMINAL:
            tr[_U(k)] += delta
            saturated = tr[_U(k)] == 0.0
        else:
            e = k * D + p
            res[_U(e)] -= delta
            res[_U((k + off[_U(p)]) * D + (p ^ half))] += delta
            saturated = res[_U(e)] == 0.0
        if saturated:
            parent[_U(k)] = _ORPHAN
            stack[_U(top)] = k
            top += 1
    return top


# -------------------------------------------------------------------- adoption


@njit(**_NO_NRT)
def _origin_distance(j, off, parent, ts, dist, time):
    """Distance of ``j`` from its terminal along tree arcs, or -1 if the path
    runs into an orphan. Nodes verified during this adoption phase carry
    ``ts == time`` and are used as shortcuts (BK's TS/DIST heuristic)."""
    d = 0
    k = j
    while True:
        if ts[_U(k)] == time:
            return d + dist[_U(k)]
        p = parent[_U(k)]
        d += 1
        if p == _TERMINAL:
            ts[_U(k)] = time
            dist[_U(k)] = 1
            return d
        if p == _ORPHAN:
            return -1
        k += off[_U(p)]


@njit(**_NO_NRT)
def _mark_path(j, d, off, parent, ts, dist, time):
    """Stamp the verified path from ``j`` (distance ``d``) with the current time."""
    k = j
    while ts[_U(k)] != time:
        ts[_U(k)] = time
        dist[_U(k)] = d
        d -= 1
        k += off[_U(parent[_U(k)])]


@njit(**_INLINE)
def _process_orphan(i, D, off, res, tree, parent, ts, dist, time,
                    in_q, active, a_tail, orphans, o_tail):
    """Find a new parent for orphan ``i`` or free it (Kolmogorov's
    ``process_source_orphan`` / ``process_sink_orphan``). Returns the new
    tails of the active and orphan ring buffers."""
    D = _directions(D)
    half = D // 2
    label = tree[_U(i)]
    is_source = label == _SOURCE
    best = -1
    d_min = _DIST_INF
    for d in range(D):
        j = i + off[_U(d)]
        # Candidate parent j needs a residual arc j -> i (source) / i -> j (sink).
        # Its label first (one byte, usually cached; the arc j -> i is in j's line).
        if tree[_U(j)] != label:
            continue
        if is_source:
            r = res[_U(j * D + (d ^ half))]
        else:
            r = res[_U(i * D + d)]
        if r > 0.0:
            dj = _origin_distance(j, off, parent, ts, dist, time)
            if dj >= 0:
                if dj < d_min:
                    d_min = dj
                    best = d
                _mark_path(j, dj, off, parent, ts, dist, time)

    if best >= 0:
        parent[_U(i)] = best
        ts[_U(i)] = time
        dist[_U(i)] = d_min + 1
        return a_tail, o_tail

    # No parent: i becomes free; wake neighbours that could grow into it and
    # orphan its children.
    tree[_U(i)] = _FREE
    parent[_U(i)] = _NO_PARENT
    for d in range(D):
        j = i + off[_U(d)]
        if tree[_U(j)] != label:
            continue
        rd = d ^ half
        # r: arc that could grow j's tree into i; r_child: the tree arc i -> j
        # (source) / j -> i (sink), positive if j is a child of i
        if is_source:
            r = res[_U(j * D + rd)]
            r_child = res[_U(i * D + d)]
        else:
            r = res[_U(i * D + d)]
            r_child = res[_U(j * D + rd)]
        if r > 0.0 or r_child > 0.0:
            if r > 0.0 and in_q[_U(j)] == 0:
                in_q[_U(j)] = 1
                a_tail = _ring_push(active, a_tail, j)
            if r_child > 0.0 and parent[_U(j)] == rd:
                parent[_U(j)] = _ORPHAN
                o_tail = _ring_push(orphans, o_tail, j)
    return a_tail, o_tail


# ---------------------------------------------------------------- main loop


@njit(**_NO_NRT)
def _maxflow(D, off, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack):
    """Run BK on the prepared residual graph.

    Work arrays (length = number of padded nodes) must be: ``tree`` zero,
    ``parent`` = ``_NO_PARENT``, ``ts``/``dist``/``in_q`` zero; ``active`` and
    ``orphans`` are scratch ring buffers (pads never enter them, so they hold
    at most n - 1 entries and ``head == tail`` means empty), ``stack`` is
    scratch for the orphans of one augmentation. On return ``tree`` is
    ``_SOURCE`` exactly for the nodes reachable from the source; returns the final time
    (no stamp in ``ts`` exceeds it).
    """
    n = tr.shape[0]
    a_tail = _activate_terminals(0, n, D, off, res, tr, tree, parent, dist, in_q, active)
    return _bk_loop(D, off, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack,
                    a_tail, 0, 0, n)


@njit(**_NO_NRT)
def _activate_terminals(lo, hi, D, off, res, tr, tree, parent, dist, in_q, active):
    """Make every node ``lo <= i < hi`` with ``tr != 0`` a root of its terminal's tree;
    those on a tree's frontier become active, in index order from the start of
    ``active``; returns the tail.

    A root is left passive when it could not grow anyway: every residual arc out of a
    source root (into a sink root) joins it to another root of the same tree. That is
    BK's invariant for passive nodes, kept from then on as for any passive node (a
    neighbour that leaves the tree re-activates it), so the cut is unchanged; on
    pictures most roots are such (camera 83 %, coins 57 %, 4-conn) and their first
    growth steps, which would find nothing, are skipped.
    """
    D = _directions(D)
    half = D // 2
    for i in range(lo, hi):
        t = tr[_U(i)]
        if t != 0.0:
            tree[_U(i)] = _SOURCE if t > 0.0 else _SINK
            parent[_U(i)] = _TERMINAL
            dist[_U(i)] = 1
    a_tail = 0
    for i in range(lo, hi):
        t = tr[_U(i)]
        if t == 0.0:
            continue
        frontier = False
        if t > 0.0:
            for d in range(D):
                if res[_U(i * D + d)] > 0.0 and tree[_U(i + off[_U(d)])] != _SOURCE:
                    frontier = True
                    break
        else:
            for d in range(D):
                j = i + off[_U(d)]
                if tree[_U(j)] != _SINK and res[_U(j * D + (d ^ half))] > 0.0:
                    frontier = True
                    break
        if frontier:
            in_q[_U(i)] = 1
            a_tail = _ring_push(active, a_tail, i)
    return a_tail


@njit(**_NO_NRT)
def _bk_loop(D, off, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack,
             a_tail, time, lo, hi):
    """BK's growth / augmentation / adoption loop until no node is active.

    ``active[:a_tail]`` holds the initial active nodes (all flagged in ``in_q``),
    ``orphans`` is an empty scratch ring, ``time`` exceeds every stamp in ``ts``.
    Only nodes ``lo <= i < hi`` can be reached (the clock restart zeroes their stamps
    only). Returns the final time.
    """
    a_head = 0
    o_head = 0
    o_tail = 0
    current = -1
    while True:
        # ---- pick the next active node (the current one first, if still alive)
        i = -1
        if current >= 0:
            in_q[_U(current)] = 0
            if tree[_U(current)] != _FREE:
                i = current
            current = -1
        if i < 0:
            while a_head != a_tail:
                k, a_head = _ring_pop(active, a_head)
                in_q[_U(k)] = 0
                if tree[_U(k)] != _FREE:
                    i = k
                    break
            if i < 0:
                break

        # ---- growth; TIME advances once per growth step (as in maxflow.cpp)
        mid_s, mid_d, a_tail = _grow(i, D, off, res, tree, parent, ts, dist, in_q, active, a_tail)
        time += 1
        if time >= _TIME_WRAP:
            for k in range(lo, hi):
                ts[_U(k)] = 0
            time = 1
        if mid_s < 0:
            continue  # i is now passive

        # ---- augmentation + adoption; i stays current (marked in-queue meanwhile)
        in_q[_U(i)] = 1
        current = i
        # Orphans are adopted in maxflow.cpp's order: the augmentation's own
        # orphans last-in first-out (nearest to a terminal first), each followed
        # by all orphans its release creates, first-in first-out.
        top = _augment(mid_s, mid_d, D, off, res, tr, parent, stack)
        while top > 0:
            top -= 1
            a_tail, o_tail = _process_orphan(
                stack[_U(top)], D, off, res, tree, parent, ts, dist, time,
                in_q, active, a_tail, orphans, o_tail,
            )
            while o_head != o_tail:
                k, o_head = _ring_pop(orphans, o_head)
                a_tail, o_tail = _process_orphan(
                    k, D, off, res, tree, parent, ts, dist, time,
                    in_q, active, a_tail, orphans, o_tail,
                )
    return time


# ------------------------------------------------------------------- drivers


@njit(**_NO_NRT)
def _write_mask(H, W, tree, out):
    """The canonical keep-mask ``(H, W)`` into ``out``: the tokens not in the source tree."""
    Wp = W + 2
    for y in range(H):
        row = (y + 1) * Wp + 1
        for x in range(W):
            out[y, x] = tree[_U(row + x)] != _SOURCE


#: Small 8-connected maps are cut by a push-relabel maximum preflow and its source side
#: (:mod:`.push_relabel`) instead of BK: on 64 real picture crops of 28² / 40² / 56² it takes
#: 1.3-1.5x less CPU; from 80² on BK is faster (0.85x at 80², 0.5x at 160²), and so it is
#: on 4-connected maps of every size (bench/RESULTS.md, issue 15 round 12). Same canonical
#: cut.
PREFLOW_MAX_TOKENS = 64 * 64


@njit(nogil=True, cache=True)
def _solve_map(unary, pairwise, out):
    """Exact min cut of one map; writes the canonical keep-mask into ``out``."""
    H, W = unary.shape
    K = pairwise.shape[0]
    work = _strip_work(H, W, K, _strip_count(H, W))
    if K == 2:
        _solve_map_in(unary, pairwise, out, work, _D4)
    else:
        _solve_map_in(unary, pairwise, out, work, _D8)


@njit(nogil=True, cache=True)
def _solve_map_in(unary, pairwise, out, work, D):
    """:func:`_solve_map` on the arrays ``work`` of :func:`_strip_work` for this shape,
    fresh or left by an earlier call (:func:`_reset_work` brings them back); ``D`` is the
    direction tuple of the connectivity (:func:`_direction_type`), so that only the
    kernels of that connectivity are compiled."""
    H, W = unary.shape
    off, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack, times = work
    P = times.shape[0]
    ys = _strip_rows(H, P)
    _reset_work(pairwise, ys, work)
    if P > 1:
        _solve_strips(0, P, unary, pairwise, ys, D, *work)
        _join_strips(unary, pairwise, ys, out, D, *work)
        return
    _build_residuals(unary, pairwise, off, res, tr)
    _push_trivial_paths(D, off, res, tr)
    if _directions(D) == 8 and H * W <= PREFLOW_MAX_TOKENS:
        preflow_cut(D, off, res, tr, tree, ts, in_q, active, orphans, tr.shape[0], _SOURCE)
    else:
        _maxflow(D, off, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack)
    _write_mask(H, W, tree, out)


@njit(nogil=True, cache=True)
def _reset_work(pairwise, ys, work):
    """Bring the arrays of :func:`_strip_work` left by a cut back to their initial state
    for the next cut of this shape, without rewriting what the next build overwrites:
    the search trees are reset and the seam arcs zeroed; the other arcs and terminal
    residuals inside the grid are rebuilt, and those of the padding stay zero (no flow
    ever enters the padding)."""
    off, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack, times = work
    tree[:] = 0
    parent[:] = _NO_PARENT
    ts[:] = 0
    dist[:] = 0
    in_q[:] = 0
    for s in range(1, ys.shape[0] - 1):
        _seam_arcs(pairwise, off, res, ys[_U(s)], False)


@njit(nogil=True, cache=True)
def _solve_range_in(start, stop, unary, pairwise, out, energies, work, D):
    """Maps ``start <= b < stop``; also their mask energies into ``energies`` unless it is
    empty (while the map is still in cache)."""
    for b in range(start, stop):
        _solve_map_in(unary[b], pairwise[b], out[b], work, D)
        if energies.shape[0] > 0:
            energies[b] = mask_energy_map(unary[b], pairwise[b], out[b])


def _work_for(H: int, W: int, K: int, P: int):
    """This thread's kept :func:`_strip_work` arrays for an ``H x W`` map in ``P`` strips
    (:mod:`ersm.core.workspace`: no fresh pages to fault in after the first call)."""
    return workspace("bk", (H, W, K, P), lambda: _strip_work(H, W, K, P))


def _solve_chunk(start: int, stop: int, unary: np.ndarray, pairwise: np.ndarray,
                 out: np.ndarray, energies: np.ndarray) -> None:
    """Maps ``start <= b < stop`` of a batch on this thread's kept work arrays."""
    _, H, W = unary.shape
    work = _work_for(H, W, pairwise.shape[1], _strip_count(H, W))
    _solve_range_in(start, stop, unary, pairwise, out, energies, work,
                    _direction_type(pairwise.shape[1]))


def grid_mincut_batch(unary: np.ndarray, pairwise: np.ndarray, with_energy: bool = False):
    """Exact minimiser of the grid energy for every map of a batch.

    unary (B,H,W) float64 C-contiguous, pairwise (B,K,H,W) float64 C-contiguous,
    K in {2,4}. Returns mask (B,H,W) bool: True (keep) iff the token is not
    reachable from the source in the final residual graph (the canonical, i.e.
    minimal-source-side, minimum cut). Inputs are not modified. B may be 0;
    H, W >= 1. Weights of edges leaving the grid are ignored. A single large map
    is solved on all threads (see :func:`_strip_count`); the result does not
    depend on the thread count. ``with_energy``: return ``(mask, energy (B,))``, the
    masks' energies bit for bit as :func:`~ersm.energy.potts_sum.mask_energy_numpy`
    sums them, each summed right after its cut (on the thread that cut it).
    """
    assert unary.ndim == 3 and pairwise.ndim == 4, "expected (B,H,W) and (B,K,H,W)"
    B, H, W = unary.shape
    assert pairwise.shape[0] == B and pairwise.shape[2:] == (H, W), "shape mismatch"
    assert pairwise.shape[1] in (2, 4), "K must be 2 (4-conn) or 4 (8-conn)"
    assert H >= 1 and W >= 1, "empty grid"
    assert (H + 2) * (W + 2) < 2**31, "grid too large for int32 node ids"
    unary = np.ascontiguousarray(unary, dtype=np.float64)
    pairwise = np.ascontiguousarray(pairwise, dtype=np.float64)
    out = np.empty((B, H, W), dtype=np.bool_)
    energies = np.empty(B if with_energy else 0, dtype=np.float64)
    strips = _strip_count(H, W)
    if B == 1 and strips > 1 and num_threads() > 1:
        _solve_map_threaded(unary[0], pairwise[0], out[0], strips)
        if with_energy:  # rows on the thread pool, the same sums
            energies[:] = mask_energy_numpy(unary, pairwise, out)
    else:
        run_batch(_solve_chunk, B, unary, pairwise, out, energies)
        rescale_overflowed(energies, unary, pairwise, out)  # as mask_energy_numpy does
    return (out, energies) if with_energy else out


# ------------------------------------------------------- one map on several threads
#
# A large map is cut into P horizontal strips. The arcs across the seams are left
# at zero, so the strips are independent graphs: each builds its own residuals and
# gets its own trivial-path sweep and BK run (in parallel), on the shared arrays,
# changing only its own nodes (seam arcs have no residual, and every decision about a
# neighbour needs a residual arc to it; a strip may read the tree label or stamps of
# the other strip's seam-row nodes while that strip writes them, but such a read is
# always followed by the zero seam residual, so its value never matters). Their
# union is a feasible flow of the whole graph (seam arcs carry zero flow) and their
# search trees are valid BK trees. The seam arcs are then
# restored and BK continues on the whole graph from these trees, with the seam
# nodes active: every passive node away from the seams already satisfies BK's
# invariant (its residual arcs stay inside its tree), so this ends at a maximum flow
# and the source tree is again exactly the set reachable from the source: the
# canonical cut. (The trivial-path sweep and the activation may likewise read the
# ``tr`` or tree label of the other strip's seam-row nodes; the zero seam arc decides
# there too.)
# The split depends on the shape only, so the result (and its
# float rounding) is the same on one thread as on many.

#: maps with fewer tokens than this are solved in one piece
STRIP_MIN_TOKENS = 1 << 16
#: rows per strip at least
STRIP_MIN_ROWS = 64
#: strips per split map at least (rows permitting) and at most
STRIP_MIN = 4
STRIP_MAX = 8
#: beyond STRIP_MIN strips, one strip per this many tokens
STRIP_TOKENS = 1 << 17


@njit(nogil=True, cache=True)
def _strip_count(H, W):
    """Number of strips an ``H x W`` map is solved in (1: in one piece).

    At least :data:`STRIP_MIN` strips, or one per :data:`STRIP_TOKENS` tokens, at most
    :data:`STRIP_MAX` and with :data:`STRIP_MIN_ROWS` rows each at least. Smaller
    strips keep each BK run's arrays nearer the cache (one thread on a 1024^2 blob map:
    8 strips cost 12-15 % less CPU than 2) and give two threads several strips to
    balance; the join's work grows with the number of seams, hence the cap. The count
    depends on the shape only, so the cut (and its rounding) does not depend on threads.
    """
    if H * W < STRIP_MIN_TOKENS:
        return 1
    want = max(STRIP_MIN, H * W // STRIP_TOKENS)
    return max(1, min(STRIP_MAX, H // STRIP_MIN_ROWS, want))


@njit(nogil=True, cache=True)
def _strip_rows(H, P):
    """First grid row of each of the ``P`` strips, and ``H``: ``(P + 1,)`` int64."""
    ys = np.empty(P + 1, dtype=np.int64)
    for s in range(P + 1):
        ys[s] = H * s // P
    return ys


@njit(nogil=True, cache=True)
def _strip_work(H, W, K, P):
    """Offsets, residuals and BK work arrays of one padded ``H x W`` map in their
    initial state, plus the strips' final times ``(P,)``."""
    n = (H + 2) * (W + 2)
    D = 2 * K
    return (_direction_offsets(K, W + 2), np.zeros(n * D, dtype=np.float64),
            np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.uint8),
            np.full(n, _NO_PARENT, dtype=np.int8), np.zeros(n, dtype=np.int32),
            np.zeros(n, dtype=np.int32), np.zeros(n, dtype=np.uint8),
            np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32),
            np.empty(n, dtype=np.int32), np.zeros(P, dtype=np.int64))


@njit(**_NO_NRT)
def _seam_arcs(pairwise, off, res, y, restore=True):
    """Set the arcs between grid rows ``y - 1`` and ``y`` (both ways) to their
    capacities (to zero if not ``restore``)."""
    K, H, W = pairwise.shape
    D = 2 * K
    Wp = W + 2
    for k in range(K):
        if _DY[k] == 0:
            continue
        dx = _DX[k]
        x_lo = 0 if dx >= 0 else -dx
        x_hi = W - dx if dx >= 0 else W
        row = y * Wp + 1  # padded row of grid row y - 1
        for x in range(x_lo, x_hi):
            w = pairwise[k, y - 1, x] if restore else 0.0
            i = row + x
            res[_U(i * D + k)] = w
            res[_U((i + off[_U(k)]) * D + k + K)] = w


@njit(nogil=True, cache=True)
def _solve_strips(start, stop, unary, pairwise, ys, D, off, res, tr, tree, parent, ts, dist, in_q,
                  active, orphans, stack, times):
    """Residual graph (seam arcs left at zero), trivial paths and BK of strips
    ``start <= s < stop``, each its own graph (``D``: direction count or tuple)."""
    Wp = unary.shape[1] + 2
    for s in range(start, stop):
        lo = (ys[s] + 1) * Wp
        hi = (ys[s + 1] + 1) * Wp
        _build_rows(unary, pairwise, off, res, tr, ys[s], ys[s + 1])
        _push_trivial_range(D, off, res, tr, lo, hi)
        a_tail = _activate_terminals(lo, hi, D, off, res, tr, tree, parent, dist, in_q,
                                     active[lo:hi])
        times[s] = _bk_loop(D, off, res, tr, tree, parent, ts, dist, in_q, active[lo:hi],
                            orphans[lo:hi], stack[lo:hi], a_tail, 0, lo, hi)


@njit(nogil=True, cache=True)
def _join_strips(unary, pairwise, ys, out, D, off, res, tr, tree, parent, ts, dist, in_q, active,
                 orphans, stack, times):
    """Restore the seam arcs, continue BK from the strips' trees with the seam rows
    active, and write the canonical keep-mask into ``out``."""
    H, W = unary.shape
    Wp = W + 2
    a_tail = 0
    for s in range(1, ys.shape[0] - 1):
        y = ys[_U(s)]
        _seam_arcs(pairwise, off, res, y)
        for i in range(y * Wp + 1, (y + 2) * Wp - 1):  # grid rows y - 1 and y
            if tree[_U(i)] != _FREE and in_q[_U(i)] == 0:
                in_q[_U(i)] = 1
                a_tail = _ring_push(active, a_tail, i)
    _bk_loop(D, off, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack, a_tail,
             times.max() + 1, 0, tr.shape[0])
    _write_mask(H, W, tree, out)


def _solve_map_threaded(unary: np.ndarray, pairwise: np.ndarray, out: np.ndarray,
                        strips: int) -> None:
    """:func:`_solve_map` of one ``(H, W)`` map with its strips on the thread pool."""
    H, W = unary.shape
    ys = _strip_rows(H, strips)
    work = _work_for(H, W, pairwise.shape[0], strips)  # the pool works on its disjoint strips
    _reset_work(pairwise, ys, work)
    D = _direction_type(pairwise.shape[0])
    run_batch(_solve_strips, strips, unary, pairwise, ys, D, *work)
    _join_strips(unary, pairwise, ys, out, D, *work)


# ------------------------------------------------------------- warm start


@njit(**_INLINE)
def _mark(i, marked, todo, n_todo):
    """Put node ``i`` on the list ``todo[:n_todo]`` once (``marked`` flags it); returns
    the new length."""
    if marked[i] == 0:
        marked[i] = 1
        todo[n_todo] = i
        n_todo += 1
    return n_todo


@njit(**_NO_NRT)
def _apply_energy_change(unary0, pairwise0, unary, pairwise, off, res, tr, marked, todo,
                         record):
    """Turn the final residual state of ``(unary0, pairwise0)`` into a valid
    residual state of ``(unary, pairwise)`` (Kohli–Torr reparametrisation, see the
    module docstring). Only in-grid edges are touched, so pads stay dead.

    With ``record`` every node whose terminal residual or arcs change is listed once in
    ``todo`` (flagged in ``marked``, which must be zero there); returns the list's length
    (0 without ``record``, when ``marked``/``todo`` are not touched)."""
    H, W = unary.shape
    K = pairwise.shape[0]
    D = 2 * K
    Wp = W + 2
    n_todo = 0
    for y in range(H):
        row = (y + 1) * Wp + 1
        for x in range(W):
            u1 = unary[y, x]
            u0 = unary0[y, x]
            if u1 != u0:
                tr[row + x] += u1 - u0
                if record:
                    n_todo = _mark(row + x, marked, todo, n_todo)
    for k in range(K):
        dy = _DY[k]
        dx = _DX[k]
        y_end = H - dy  # dy >= 0
        x_lo = 0 if dx >= 0 else -dx
        x_hi = W - dx if dx >= 0 else W
        for y in range(y_end):
            row = (y + 1) * Wp + 1
            for x in range(x_lo, x_hi):
                w1 = pairwise[k, y, x]
                w0 = pairwise0[k, y, x]
                if w1 == w0:
                    continue
                dw = w1 - w0
                i = row + x
                j = i + off[k]
                if record:
                    n_todo = _mark(i, marked, todo, n_todo)
                    n_todo = _mark(j, marked, todo, n_todo)
                _change_capacity(res, tr, i, j, i * D + k, j * D + k + K, w1, dw)
    return n_todo


@njit(**_INLINE)
def _change_capacity(res, tr, i, j, a, b, w1, dw):
    """Move the capacity of the edge ``i — j`` (arcs ``a``: i → j, ``b``: j → i, both of
    capacity ``w1 − dw`` before) by ``dw`` in a final residual state: flow above the new
    capacity ``w1`` is handed back to the two terminal residuals (Kohli–Torr)."""
    ra = res[a] + dw
    rb = res[b] + dw
    if ra < 0.0:  # flow i -> j exceeds the new capacity
        res[a] = 0.0
        res[b] = w1 + w1
        tr[i] -= ra  # i keeps the excess -ra it can no longer send
        tr[j] += ra  # j no longer receives it
    elif rb < 0.0:  # flow j -> i exceeds the new capacity
        res[b] = 0.0
        res[a] = w1 + w1
        tr[j] -= rb
        tr[i] += rb
    else:
        res[a] = ra
        res[b] = rb


@njit(nogil=True, cache=True)
def _finish_map(H, W, D, off, res, tr, out):
    """BK from the residual state ``(res, tr)`` with freshly built trees; writes the
    canonical keep-mask into ``out`` and leaves the final residuals in place."""
    n = tr.shape[0]
    tree = np.zeros(n, dtype=np.uint8)
    parent = np.full(n, _NO_PARENT, dtype=np.int8)
    ts = np.zeros(n, dtype=np.int32)
    dist = np.zeros(n, dtype=np.int32)
    in_q = np.zeros(n, dtype=np.uint8)
    active = np.empty(n, dtype=np.int32)
    orphans = np.empty(n, dtype=np.int32)
    stack = np.empty(n, dtype=np.int32)
    _maxflow(D, off, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack)
    _write_mask(H, W, tree, out)


@njit(nogil=True, cache=True)
def _solve_map_keep(unary, pairwise, out, res, tr, D):
    """Cold solve of one map (as :func:`_solve_map`) that leaves its final residual
    state in ``res``/``tr`` (both must be zero on entry); ``D``: :func:`_direction_type`."""
    H, W = unary.shape
    off = _direction_offsets(pairwise.shape[0], W + 2)
    _build_residuals(unary, pairwise, off, res, tr)
    _push_trivial_paths(D, off, res, tr)
    _finish_map(H, W, D, off, res, tr, out)


@njit(nogil=True, cache=True)
def _solve_map_warm(unary0, pairwise0, unary, pairwise, out, res_in, tr_in, res, tr, copy, D):
    """Warm solve of one map from the final residual state ``res_in``/``tr_in`` of
    ``(unary0, pairwise0)``; the new final state goes to ``res``/``tr`` (copied from
    ``res_in``/``tr_in`` first if ``copy``, else they are the same arrays).

    No trivial-path sweep here: after a small change almost every length-1 path is
    already saturated, and the sweep would cost a full pass (measured 15-25 % of a
    warm solve); BK's growth finds the few new ones anyway. ``D``: :func:`_direction_type`."""
    if copy:
        res[:] = res_in
        tr[:] = tr_in
    H, W = unary.shape
    off = _direction_offsets(pairwise.shape[0], W + 2)
    none = np.zeros(0, dtype=np.int32)
    _apply_energy_change(unary0, pairwise0, unary, pairwise, off, res, tr, none, none, False)
    _finish_map(H, W, D, off, res, tr, out)


@njit(nogil=True, cache=True)
def _solve_range_keep(start, stop, unary, pairwise, out, res, tr, D):
    for b in range(start, stop):
        _solve_map_keep(unary[b], pairwise[b], out[b], res[b], tr[b], D)


@njit(nogil=True, cache=True)
def _solve_range_warm(start, stop, unary0, pairwise0, unary, pairwise, out, res_in, tr_in, res,
                      tr, copy, D):
    for b in range(start, stop):
        _solve_map_warm(unary0[b], pairwise0[b], unary[b], pairwise[b], out[b],
                        res_in[b], tr_in[b], res[b], tr[b], copy, D)


def grid_state_sizes(H: int, W: int, K: int) -> tuple[int, int]:
    """Per-map lengths ``(len(res), len(tr))`` of the residual state of an ``H x W``
    grid with ``K`` pairwise channels: ``(n * 2K, n)`` with ``n = (H + 2) * (W + 2)``."""
    n = (H + 2) * (W + 2)
    return n * 2 * K, n


def grid_mincut_batch_warm(unary: np.ndarray, pairwise: np.ndarray, state=None,
                           inplace: bool = False):
    """:func:`grid_mincut_batch` that returns (and optionally starts from) the
    final residual state.

    Args:
        unary, pairwise: the energy, as for :func:`grid_mincut_batch`.
        state: None (cold solve) or ``(unary0, pairwise0, res, tr)``: the energy of a
            previous solve of the same shape and the ``res`` ``(B, n * 2K)`` /
            ``tr`` ``(B, n)`` float64 arrays that solve returned.
        inplace: update the given ``res``/``tr`` in place (they must then be
            C-contiguous float64) instead of writing new arrays; the old state is
            then consumed.

    Returns:
        ``(mask, res, tr)``: the canonical keep-mask ``(B, H, W)`` (identical to
        :func:`grid_mincut_batch` on exact inputs, see the module docstring) and
        the final residual state, to pass back as ``state`` with this energy.
    """
    assert unary.ndim == 3 and pairwise.ndim == 4, "expected (B,H,W) and (B,K,H,W)"
    B, H, W = unary.shape
    K = pairwise.shape[1]
    assert pairwise.shape[0] == B and pairwise.shape[2:] == (H, W), "shape mismatch"
    assert K in (2, 4), "K must be 2 (4-conn) or 4 (8-conn)"
    assert H >= 1 and W >= 1, "empty grid"
    assert (H + 2) * (W + 2) < 2**31, "grid too large for int32 node ids"
    unary = np.ascontiguousarray(unary, dtype=np.float64)
    pairwise = np.ascontiguousarray(pairwise, dtype=np.float64)
    n_res, n = grid_state_sizes(H, W, K)
    out = np.empty((B, H, W), dtype=np.bool_)
    if state is None:
        res = np.zeros((B, n_res), dtype=np.float64)
        tr = np.zeros((B, n), dtype=np.float64)
        run_batch(_solve_range_keep, B, unary, pairwise, out, res, tr, _direction_type(K))
        return out, res, tr

    unary0, pairwise0, res_in, tr_in = state
    assert unary0.shape == unary.shape and pairwise0.shape == pairwise.shape, "state shape"
    assert res_in.shape == (B, n_res) and tr_in.shape == (B, n), "state residual shape"
    unary0 = np.ascontiguousarray(unary0, dtype=np.float64)
    pairwise0 = np.ascontiguousarray(pairwise0, dtype=np.float64)
    if inplace:
        assert res_in.dtype == np.float64 and res_in.flags.c_contiguous, "res must be C f64"
        assert tr_in.dtype == np.float64 and tr_in.flags.c_contiguous, "tr must be C f64"
        res, tr = res_in, tr_in
    else:  # the kernel copies map by map (in parallel, while the map is hot in cache)
        res_in = np.ascontiguousarray(res_in, dtype=np.float64)
        tr_in = np.ascontiguousarray(tr_in, dtype=np.float64)
        res = np.empty((B, n_res), dtype=np.float64)
        tr = np.empty((B, n), dtype=np.float64)
    copy = not inplace
    run_batch(_solve_range_warm, B, unary0, pairwise0, unary, pairwise, out, res_in, tr_in, res,
              tr, copy, _direction_type(K))
    return out, res, tr
