"""Numba kernel of the exact keep-cost path: divide and conquer with contraction.

Problem
-------
For one map, ``E_λ(m) = Σ θ_i m_i + Σ w_ij [m_i ≠ m_j] + λ Σ m_i`` with ``w ≥ 0``. Its
canonical (largest) minimisers ``M(λ)`` shrink as λ grows (parametric max-flow,
Gallo–Grigoriadis–Tarjan 1989), so ``t_i = max{λ : i ∈ M(λ)}`` describes them all.

Algorithm (Gallo–Grigoriadis–Tarjan / Kolmogorov–Boykov–Rother, ICCV 2007)
--------------------------------------------------------------------------
A *subproblem* is a set ``S`` of undecided tokens on an interval of λ where every token
of ``S`` is kept at the lower end and dropped at the upper end; all tokens outside
``S`` are decided there: a neighbour ``j`` of ``i ∈ S`` is either kept or dropped on
the whole interval. Contraction folds them into the unaries,

    θ'_i = θ_i − Σ_{j kept} w_ij + Σ_{j dropped} w_ij,

so ``E_λ(S_kept ∪ T) = const + Σ_{i∈T} (θ'_i + λ) + cut_S(T)`` for ``T ⊆ S``. The lines
"all of S" and "none of S" meet at ``λ* = −Σ_{i∈S} θ'_i / |S| = −P / q``. One
canonical cut of the contracted problem at λ* (capacities ``q·θ'_i − P`` and
``q·w_ij``: exactly ``q·(θ' + λ*)``, no rounding of λ*) gives ``C ⊆ S``:

* ``C = S``: by concavity of the optimal value (zero at both "ends" and at λ*), all of
  ``S`` has the threshold λ*: a breakpoint, ``t_i = λ*`` for ``i ∈ S``.
* otherwise ``C`` (thresholds ``≥ λ*``) and ``S \\ C`` (thresholds ``< λ*``) are new
  subproblems; each side's neighbours on the other side are kept / dropped there.

Subproblems are further split into connected components of their ``w > 0`` edges
(independent paths); a single token has ``t_i = −θ'_i`` and two tokens joined by ``w``
form one breakpoint iff ``|θ'_i − θ'_j| <= 2w`` (else they split), both without a cut.
The tokens live
in one permutation array where every subproblem is a contiguous segment, ordered so
that a segment's tokens rank above (thresholds above) every lower segment they touch:
a neighbour ``j`` outside the segment ``[a, b)`` of ``i`` is kept iff ``pos[j] >= b``.
The cut of a subproblem runs on the bounding box of its segment, with weights to
tokens outside it set to zero (they stay isolated and untouched), in one of two ways:

* a first component of the map (no neighbour decided yet; its λ* is the component's
  mean, an ordinary cut) goes to the grid BK kernel, unless it is 8-connected and its
  box has at most ``PREFLOW_MAX_TOKENS`` nodes (as ``graphcut``'s small 8-connected maps);
* a piece of a split (every token nearly tied at its critical λ: a balanced transport
  problem, on which BK's augmenting paths get long and its trees are torn down over and
  over) gets a push-relabel maximum preflow (:mod:`ersm.solvers.kernels.push_relabel`,
  FIFO, exact distance labels by global relabelling) and its source side: the nodes
  reachable from the excess it leaves. That is the set BK's finish from the preflow
  would grow (no augmenting path is left), so the cut is the canonical one either way.

Exactness
---------
``P`` is summed exactly (Shewchuk expansions: error-free ``two_sum``) from the input
values ``θ_i`` and ``±w_ij`` of the boundary edges, and ``t = −P / q`` is rounded
*down* once (the largest float ``t`` with ``t·q ≤ −P``, checked exactly), so
``t >= λ`` iff the true breakpoint is ``>= λ``, for every float λ. The folded unaries
and the cut capacities are float64: on integer or dyadic inputs of moderate size they
are exact, the cut decides exactly and the thresholds are bit for bit the exact
rationals rounded down; for generic floats the cut is optimal up to the rounding of
the BK kernel (``eps · Σ capacities``).

Parallelism
-----------
Maps of a batch run in parallel (``run_batch``: several chunks per thread, balanced
dynamically). With fewer maps than threads (one large map), each map's first cuts run
serially until ``8·threads`` independent segments are on the stack; those are then
split into balanced groups (longest first, cost ``q log q``) solved on the thread pool.
Every segment is solved by the same code from the same state, so the thresholds and the
cut counts equal the serial run's bit for bit.

Complexity
----------
Each token sits in one subproblem per recursion level; one level costs a cut on
disjoint pieces of total size ``≤ H·W`` (the sum over tokens of their depth bounds the
total size of all cuts). There are at most ``2·(#breakpoints)`` cuts; in the worst case
the depth is the number of breakpoints (``O(n)`` cuts of ``O(n)`` size, like KBR), in
practice the contracted pieces shrink quickly and most tokens end as isolated singletons
or small components. Exact sums cost ``O(length of the expansion)`` per term, ``O(1)``
on ordinary data. FIFO push-relabel phase 1 takes ``O(n³)`` steps (strongly polynomial,
whatever the capacities), unlike BK. Measured (``bench/bench_path.py`` and
bench/RESULTS.md): each token takes part in 4–7 cuts (about one of them the cut that
confirms its breakpoint, the rest splits); a cut of a contracted piece at its critical λ
costs several times a λ = 0 cut per token (everything in the piece is nearly tied). With
the preflow for the pieces of splits the whole path costs 7–22× one cut on 64-map
batches of picture energies (8-connected 1.5–2× less than with BK alone, 4-connected
about the same), more on one large map; the confirming cuts alone, with the answer
given (one per plateau, ``bench/path_floor.py``), cost 1.7–4.6× one cut there, and the
splits 4–5.4× that. Hochbaum's parametric pseudoflow (the one peer that returns a path)
is 10–250× slower on the same energies (``bench/bench_path_hpf.py``). Every cut starts
cold: a warm start of BK on the children from the parent's flow removed 14–29 % of BK's
growth steps and 27–44 % of its orphans but no time (the λ shift to the child's critical
value changes the terminal residual of every node, so BK re-roots at nearly every node);
greedily saturating 2-hop paths before BK removed 13–31 % of the augmentations and 0–5 %
of the time; neither is kept.
"""

from __future__ import annotations

import numpy as np

from ersm.core.numba_cache import njit
from ersm.core.parallel import CHUNKS_PER_THREAD, num_threads, run_batch
from ersm.energy.offsets import OFFSETS

from ._bk import (DIRECTIONS_4, DIRECTIONS_8, NO_PARENT, PREFLOW_MAX_TOKENS, SOURCE,
                  direction_offsets, maxflow, preflow_cut, push_trivial_paths)

__all__ = ["path_thresholds_batch"]

_DY = np.array([o[0] for o in OFFSETS], dtype=np.int64)
_DX = np.array([o[1] for o in OFFSETS], dtype=np.int64)
_EXP = 96  # expansion buffer: a nonoverlapping float64 expansion has < 45 components
_SPLITTER = 134217729.0  # 2^27 + 1 (Dekker)
#: subscripts cast to this are known non-negative (no Numba wraparound test), as in bk.py
_U = np.uint64

_OPTS = dict(nogil=True, cache=True)
_PARALLEL_MIN_TOKENS = 4096  # smaller single maps stay on one thread
_N_STATS = 4  # per map: cuts, box area, tokens cut, tokens in confirming cuts


# ------------------------------------------------------------ exact arithmetic


@njit(inline="always", **_OPTS)
def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(**_OPTS)
def _grow(e, m, b):
    """Add ``b`` to the expansion ``e[:m]`` (increasing magnitude, nonoverlapping, no
    zeros); return its new length (Shewchuk's GROW-EXPANSION with zero elimination)."""
    if b == 0.0:
        return m
    q = b
    k = 0
    for i in range(m):
        q, h = _two_sum(q, e[i])
        if h != 0.0:
            e[k] = h
            k += 1
    if q != 0.0 or k == 0:
        e[k] = q
        k += 1
    return k


@njit(**_OPTS)
def _approx(e, m):
    s = 0.0
    for i in range(m):
        s += e[i]
    return s


@njit(inline="always", **_OPTS)
def _two_prod(a, b):
    p = a * b
    c = _SPLITTER * a
    ah = c - (c - a)
    al = a - ah
    c = _SPLITTER * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@njit(**_OPTS)
def _sign_minus(e, m, t, q, tmp):
    """Sign of ``e − t·q`` (exact)."""
    for i in range(m):
        tmp[i] = e[i]
    p, err = _two_prod(t, q)
    k = _grow(tmp, m, -p)
    k = _grow(tmp, k, -err)
    top = tmp[k - 1] if k > 0 else 0.0
    return 1 if top > 0.0 else (-1 if top < 0.0 else 0)


@njit(**_OPTS)
def _floor_div(e, m, q, tmp):
    """Largest float64 ``t`` with ``t·q <= value(e)`` for an integer-valued ``q >= 1``."""
    t = _approx(e, m) / q
    if not np.isfinite(t):
        return t
    for _ in range(64):
        if _sign_minus(e, m, t, q, tmp) < 0:
            t = np.nextafter(t, -np.inf)
            continue
        up = np.nextafter(t, np.inf)
        if np.isfinite(up) and _sign_minus(e, m, up, q, tmp) >= 0:
            t = up
            continue
        break
    return t


# ----------------------------------------------------------------- the graph


@njit(**_OPTS)
def _neighbours(pairwise, H, W):
    """Neighbour ids ``nb (n, 2K)`` (``-1``: none or ``w = 0``) and weights ``nw``."""
    K = pairwise.shape[0]
    n = H * W
    nb = np.full((n, 2 * K), -1, dtype=np.int64)
    nw = np.zeros((n, 2 * K), dtype=np.float64)
    for k in range(K):
        dy = _DY[k]
        dx = _DX[k]
        for y in range(H):
            for x in range(W):
                yy = y + dy
                xx = x + dx
                if yy < 0 or yy >= H or xx < 0 or xx >= W:
                    continue
                w = pairwise[k, y, x]
                if w > 0.0:
                    i = y * W + x
                    j = yy * W + xx
                    nb[i, k] = j
                    nw[i, k] = w
                    nb[j, k + K] = i
                    nw[j, k + K] = w
    return nb, nw


@njit(**_OPTS)
def _components(a, b, order, pos, nb, seen, stamp, buf, st_a, st_b, top):
    """Reorder segment ``[a, b)`` of ``order`` by connected component (BFS) and push
    every component as a segment; return the new stack size."""
    D = nb.shape[1]
    n_out = 0
    for s in range(a, b):
        root = order[_U(s)]
        if seen[_U(root)] == stamp:
            continue
        seen[_U(root)] = stamp
        start = n_out
        buf[_U(n_out)] = root
        n_out += 1
        head = start
        while head < n_out:
            i = buf[_U(head)]
            head += 1
            for d in range(D):
                j = nb[_U(i), _U(d)]
                if j >= 0 and seen[_U(j)] != stamp:
                    pj = pos[_U(j)]
                    if a <= pj < b:
                        seen[_U(j)] = stamp
                        buf[_U(n_out)] = j
                        n_out += 1
        st_a[_U(top)] = a + start
        st_b[_U(top)] = a + n_out
        top += 1
    for s in range(n_out):
        order[_U(a + s)] = buf[_U(s)]
        pos[_U(buf[_U(s)])] = a + s
    return top


@njit(**_OPTS)
def _path_init(theta, pairwise):
    """Per-map state: neighbours, folded unaries, the token permutation and the stack
    ``st_a``/``st_b`` holding the first segments (connected components)."""
    H, W = theta.shape
    n = H * W
    st_a = np.empty(n + 1, dtype=np.int64)
    st_b = np.empty(n + 1, dtype=np.int64)
    buf = np.empty(n, dtype=np.int64)
    nb, nw = _neighbours(pairwise, H, W)
    th = np.empty(n, dtype=np.float64)
    theta_flat = np.empty(n, dtype=np.float64)
    for y in range(H):
        for x in range(W):
            th[y * W + x] = theta[y, x]
            theta_flat[y * W + x] = theta[y, x]
    order = np.arange(n)
    pos = np.arange(n)
    seen = np.zeros(n, dtype=np.int64)
    top = _components(0, n, order, pos, nb, seen, 1, buf, st_a, st_b, 0)
    return nb, nw, th, theta_flat, order, pos, seen, st_a, st_b, top


@njit(**_OPTS)
def _path_start(theta, pairwise, limit, lam_min, lam_max, stats):
    """Set up one map and solve its segments until the stack holds ``limit`` of them (or
    is empty). Returns the shared state, the stack and the next free stamp."""
    H, W = theta.shape
    K = pairwise.shape[0]
    n = H * W
    nb, nw, th, theta_flat, order, pos, seen, st_a, st_b, top = _path_init(theta, pairwise)
    t_out = np.empty(n, dtype=np.float64)
    kept_flag = np.zeros(n, dtype=np.bool_)
    node_of = np.empty(n, dtype=np.int64)
    top, stamp = _run_with_scratch(theta_flat, th, nb, nw, H, W, K, order, pos, seen, t_out,
                                   kept_flag, node_of, st_a, st_b, top, limit, 1, 1, lam_min,
                                   lam_max, stats)
    return (theta_flat, th, nb, nw, order, pos, seen, t_out, kept_flag, node_of, st_a, st_b,
            top, stamp + 1)


@njit(**_OPTS)
def _run_stack(theta_flat, th, nb, nw, H, W, K, order, pos, seen, t_out, kept_flag, node_of,
               st_a, st_b, top, limit, stamp, step, lam_min, lam_max, buf, res_buf, tr_buf,
               tree, parent, ts, dist, in_q, active, orphans, stack, e, tmp, stats):
    """Solve the segments on the stack ``st_a/st_b[:top]`` (depth first) until it is empty
    or holds ``limit`` segments; return ``(top, stamp)``.

    Segments are disjoint, and a worker reads and writes the shared per-token arrays only
    for the tokens of its own segments (a neighbour's ``pos`` is only compared with the
    segment's bounds, and it stays inside its own segment), so workers with disjoint
    stacks, their own scratch (``buf`` … ``tmp``) and their own ``stamp`` sequences
    (``stamp + k·step``) can run concurrently. ``stats += [cuts, box area, tokens cut,
    tokens in cuts that confirmed a breakpoint]``.
    """
    n = H * W
    D = 2 * K
    cuts = 0
    area = 0
    cut_tokens = 0
    confirmed = 0
    while top > 0 and top < limit:
        top -= 1
        a = st_a[_U(top)]
        b = st_b[_U(top)]
        q = b - a
        # exact N = -P = -(Σ θ_i + Σ_boundary ±w) and the bounding box
        m = 0
        child = False  # a piece of a split (some neighbour decided), not a first component
        y0 = H
        y1 = -1
        x0 = W
        x1 = -1
        for s in range(a, b):
            i = order[_U(s)]
            m = _grow(e, m, -theta_flat[_U(i)])
            for d in range(D):
                j = nb[_U(i), _U(d)]
                if j >= 0:
                    pj = pos[_U(j)]
                    if pj >= b:
                        m = _grow(e, m, nw[_U(i), _U(d)])  # kept neighbour: θ' -= w
                        child = True
                    elif pj < a:
                        m = _grow(e, m, -nw[_U(i), _U(d)])  # dropped neighbour: θ' += w
                        child = True
            y = i // W
            x = i - y * W
            y0 = min(y0, y)
            y1 = max(y1, y)
            x0 = min(x0, x)
            x1 = max(x1, x)
        lam = _floor_div(e, m, float(q), tmp)
        if q == 1:
            t_out[_U(order[_U(a)])] = lam
            continue
        if q == 2:
            # two tokens joined by w: one breakpoint iff |θ'_i − θ'_j| <= 2w, else the
            # token with the smaller θ' stays kept longer (no cut needed)
            i = order[_U(a)]
            j = order[_U(a + 1)]
            w2 = 0.0
            for d in range(D):
                if nb[_U(i), _U(d)] == j:
                    w2 = nw[_U(i), _U(d)] + nw[_U(i), _U(d)]
            diff = th[_U(i)] - th[_U(j)]
            if -w2 <= diff <= w2:
                kept_flag[_U(i)] = True
                kept_flag[_U(j)] = True
            else:
                kept_flag[_U(i)] = diff < 0.0
                kept_flag[_U(j)] = diff > 0.0
        else:
            P = -_approx(e, m)
            fq = float(q)
            # padded bounding box of the segment: the BK grid layout, border nodes dead
            Wp = x1 - x0 + 3
            nn = (y1 - y0 + 3) * Wp
            off = direction_offsets(K, Wp)
            res = res_buf[: nn * D]
            tr = tr_buf[:nn]
            res[:] = 0.0
            tr[:] = 0.0
            for s in range(a, b):
                i = order[_U(s)]
                y = i // W
                node = (y - y0 + 1) * Wp + (i - y * W - x0 + 1)
                node_of[_U(i)] = node
                tr[_U(node)] = fq * th[_U(i)] - P
                for k in range(K):
                    j = nb[_U(i), _U(k)]
                    if j >= 0:
                        pj = pos[_U(j)]
                        if a <= pj < b:
                            wq = fq * nw[_U(i), _U(k)]
                            res[_U(node * D + k)] = wq
                            res[_U((node + off[k]) * D + k + K)] = wq
            if K == 2:  # BK compiled for the connectivity (its direction loops unrolled)
                _cut_box(DIRECTIONS_4, off, res, tr, tree, parent, ts, dist, in_q, active,
                         orphans, stack, nn, child)
            else:
                _cut_box(DIRECTIONS_8, off, res, tr, tree, parent, ts, dist, in_q, active,
                         orphans, stack, nn, child or nn <= PREFLOW_MAX_TOKENS)
            cuts += 1
            area += nn
            for s in range(a, b):
                i = order[_U(s)]
                kept_flag[_U(i)] = tree[_U(node_of[_U(i)])] != SOURCE
        kept = 0
        for s in range(a, b):
            if kept_flag[_U(order[_U(s)])]:
                kept += 1
        if q > 2:
            cut_tokens += q
        if kept == q or kept == 0:
            if q > 2:
                confirmed += q
            for s in range(a, b):
                t_out[_U(order[_U(s)])] = lam
            continue
        # stable partition: dropped part (lower thresholds) first, kept part above it
        mid = a + (q - kept)
        lo = 0
        hi = q - kept
        for s in range(a, b):
            i = order[_U(s)]
            if kept_flag[_U(i)]:
                buf[_U(hi)] = i
                hi += 1
            else:
                buf[_U(lo)] = i
                lo += 1
        for s in range(q):
            order[_U(a + s)] = buf[_U(s)]
            pos[_U(buf[_U(s)])] = a + s
        # fold the other side into the unaries
        for s in range(a, b):
            i = order[_U(s)]
            for d in range(D):
                j = nb[_U(i), _U(d)]
                if j >= 0:
                    pj = pos[_U(j)]
                    if s < mid and mid <= pj < b:
                        th[_U(i)] -= nw[_U(i), _U(d)]
                    elif s >= mid and a <= pj < mid:
                        th[_U(i)] += nw[_U(i), _U(d)]
        stamp += step
        # kept side: thresholds >= lam*, all +inf if lam* >= lam_max
        if lam >= lam_max:
            for s in range(mid, b):
                t_out[_U(order[_U(s)])] = np.inf
        else:
            top = _components(mid, b, order, pos, nb, seen, stamp, buf, st_a, st_b, top)
        # dropped side: thresholds < lam*, all -inf if lam* <= lam_min
        if lam < lam_min:
            for s in range(a, mid):
                t_out[_U(order[_U(s)])] = -np.inf
        else:
            top = _components(a, mid, order, pos, nb, seen, stamp, buf, st_a, st_b, top)
    stats[0] += cuts
    stats[1] += area
    stats[2] += cut_tokens
    stats[3] += confirmed
    return top, stamp


@njit(**_OPTS)
def _cut_box(D, off, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack, nn,
             use_preflow):
    """Canonical min cut of the prepared box graph of ``nn`` padded nodes (``res``, ``tr``
    built): trivial paths, then BK from fresh search trees, or (``use_preflow``) a
    push-relabel maximum preflow and its source side; ``tree[:nn] == SOURCE`` marks the
    dropped nodes after it. ``D``: a direction tuple (``DIRECTIONS_4`` /
    ``DIRECTIONS_8``) or the int ``2K``."""
    push_trivial_paths(D, off, res, tr)
    tree[:nn] = 0
    in_q[:nn] = 0
    if use_preflow:
        preflow_cut(D, off, res, tr, tree[:nn], ts[:nn], in_q[:nn], active[:nn], orphans[:nn],
                    nn, SOURCE)
        return
    parent[:nn] = NO_PARENT
    ts[:nn] = 0
    dist[:nn] = 0
    maxflow(D, off, res, tr, tree[:nn], parent[:nn], ts[:nn], dist[:nn], in_q[:nn],
            active[:nn], orphans[:nn], stack[:nn])


@njit(**_OPTS)
def _scratch(n, n_pad, D):
    """One worker's scratch: ``buf, res, tr, tree, parent, ts, dist, in_q, active,
    orphans, stack, e, tmp`` (BK arrays sized for the whole padded grid)."""
    return (np.empty(n, dtype=np.int64), np.empty(n_pad * D, dtype=np.float64),
            np.empty(n_pad, dtype=np.float64), np.empty(n_pad, dtype=np.uint8),
            np.empty(n_pad, dtype=np.int8), np.empty(n_pad, dtype=np.int64),
            np.empty(n_pad, dtype=np.int64), np.empty(n_pad, dtype=np.uint8),
            np.empty(n_pad, dtype=np.int32), np.empty(n_pad, dtype=np.int32),
            np.empty(n_pad, dtype=np.int32), np.empty(_EXP, dtype=np.float64),
            np.empty(_EXP, dtype=np.float64))


@njit(**_OPTS)
def _run_with_scratch(theta_flat, th, nb, nw, H, W, K, order, pos, seen, t_out, kept_flag,
                      node_of, st_a, st_b, top, limit, stamp, step, lam_min, lam_max, stats):
    """:func:`_run_stack` with freshly allocated scratch."""
    n = H * W
    buf, res, tr, tree, parent, ts, dist, in_q, active, orphans, stack, e, tmp = _scratch(
        n, (H + 2) * (W + 2), 2 * K)
    return _run_stack(theta_flat, th, nb, nw, H, W, K, order, pos, seen, t_out, kept_flag,
                      node_of, st_a, st_b, top, limit, stamp, step, lam_min, lam_max, buf, res,
                      tr, tree, parent, ts, dist, in_q, active, orphans, stack, e, tmp, stats)


@njit(**_OPTS)
def _path_map(theta, pairwise, lam_min, lam_max, out, stats):
    """Thresholds of one map into ``out (H, W)``; ``stats (4,)`` as in :func:`_run_stack`."""
    H, W = theta.shape
    t_out = _path_start(theta, pairwise, H * W + 2, lam_min, lam_max, stats)[7]
    for y in range(H):
        for x in range(W):
            out[y, x] = t_out[y * W + x]


@njit(**_OPTS)
def _path_range(start, stop, unary, pairwise, lam_min, lam_max, out, stats):
    for b in range(start, stop):
        _path_map(unary[b], pairwise[b], lam_min, lam_max, out[b], stats[b])


@njit(**_OPTS)
def _group_range(start, stop, group_ptr, seg_a, seg_b, theta_flat, th, nb, nw, H, W, K, order,
                 pos, seen, t_out, kept_flag, node_of, lam_min, lam_max, stamp0, n_groups,
                 stats):
    """Worker of the within-map parallel phase: solve the segments of groups
    ``start <= g < stop`` (``seg_a/seg_b[group_ptr[g]:group_ptr[g + 1]]``); group ``g``
    uses the stamps ``stamp0 + g + k·n_groups``, so no two groups share one."""
    n = H * W
    st_a = np.empty(n + 1, dtype=np.int64)
    st_b = np.empty(n + 1, dtype=np.int64)
    for g in range(start, stop):
        top = 0
        for s in range(group_ptr[g], group_ptr[g + 1]):
            st_a[top] = seg_a[s]
            st_b[top] = seg_b[s]
            top += 1
        _run_with_scratch(theta_flat, th, nb, nw, H, W, K, order, pos, seen, t_out, kept_flag,
                          node_of, st_a, st_b, top, n + 2, stamp0 + g, n_groups, lam_min,
                          lam_max, stats[g])


def _balanced_groups(sizes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Longest-processing-time assignment of segments (cost ~ ``size·log size``) to
    ``n_groups`` groups: ``(permutation of the segments, group pointers)``."""
    cost = sizes * np.log2(sizes + 1.0)
    load = np.zeros(n_groups)
    group = np.empty(len(sizes), dtype=np.int64)
    for s in np.argsort(-cost, kind="stable"):
        g = int(np.argmin(load))
        group[s] = g
        load[g] += cost[s]
    perm = np.argsort(group, kind="stable")
    ptr = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(group, minlength=n_groups), out=ptr[1:])
    return perm, ptr


def _path_map_parallel(theta: np.ndarray, pairwise: np.ndarray, lam_min: float,
                       lam_max: float, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """One map on ``threads`` threads: the first cuts serially until the stack holds
    ``8·threads`` independent segments, then those segments in balanced groups on the
    thread pool. Same thresholds as :func:`_path_map` (every segment is solved by the
    same code from the same state). Returns ``(thresholds (H, W), stats (4,))``."""
    H, W = theta.shape
    K = pairwise.shape[0]
    stats = np.zeros(_N_STATS, dtype=np.int64)
    (theta_flat, th, nb, nw, order, pos, seen, t_out, kept_flag, node_of, st_a, st_b, top,
     stamp) = _path_start(theta, pairwise, 8 * threads, lam_min, lam_max, stats)
    if top > 0:
        n_groups = min(top, threads * CHUNKS_PER_THREAD)
        seg_a, seg_b = st_a[:top].copy(), st_b[:top].copy()
        perm, ptr = _balanced_groups((seg_b - seg_a).astype(np.float64), n_groups)
        group_stats = np.zeros((n_groups, _N_STATS), dtype=np.int64)
        run_batch(_group_range, n_groups, ptr, seg_a[perm], seg_b[perm], theta_flat, th, nb, nw,
                  H, W, K, order, pos, seen, t_out, kept_flag, node_of, lam_min, lam_max,
                  stamp, n_groups, group_stats)
        stats += group_stats.sum(axis=0)
    return t_out.reshape(H, W), stats


def path_thresholds_batch(unary: np.ndarray, pairwise: np.ndarray, lam_min: float = -np.inf,
                          lam_max: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds ``(B, H, W)`` float64 and stats ``(B, 4)`` int64: BK cuts, their total
    padded box area, their total number of tokens, and the tokens of those cuts that
    confirmed a breakpoint (the piece was not split).

    ``unary (B, H, W)``, ``pairwise (B, K, H, W)``: validated float64, ``w >= 0``. Tokens
    decided outside ``[lam_min, lam_max]`` may be returned as ``±inf`` early (pruning);
    the caller clips the rest. Maps run in parallel; with fewer maps than threads each
    map is split over the threads after its first cuts (independent segments).
    """
    unary = np.ascontiguousarray(unary, dtype=np.float64)
    pairwise = np.ascontiguousarray(pairwise, dtype=np.float64)
    B, H, W = unary.shape
    out = np.empty((B, H, W), dtype=np.float64)
    stats = np.zeros((B, _N_STATS), dtype=np.int64)
    threads = num_threads()
    if 0 < B < threads and H * W >= _PARALLEL_MIN_TOKENS:
        for b in range(B):
            out[b], stats[b] = _path_map_parallel(unary[b], pairwise[b], float(lam_min),
                                                  float(lam_max), threads)
        return out, stats
    run_batch(_path_range, B, unary, pairwise, float(lam_min), float(lam_max), out, stats)
    return out, stats
