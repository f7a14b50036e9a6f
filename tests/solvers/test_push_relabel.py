"""The push-relabel preflow that preconditions BK in the path kernel (kernels/push_relabel.py)."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import EXACT_KINDS, energy_cases, examples

from ersm.solvers.kernels import bk
from ersm.solvers.kernels.push_relabel import preflow, source_side


def residual_graph(unary: np.ndarray, pairwise: np.ndarray):
    """BK's padded residual graph of one map after the trivial-path sweep."""
    H, W = unary.shape
    K = pairwise.shape[0]
    n = (H + 2) * (W + 2)
    off = bk._direction_offsets(K, W + 2)
    res = np.zeros(n * 2 * K)
    tr = np.zeros(n)
    bk._build_residuals(unary, pairwise, off, res, tr)
    bk._push_trivial_paths(2 * K, off, res, tr)
    return off, res, tr


def run_preflow(off, res, tr):
    n = tr.shape[0]
    D = res.shape[0] // n
    in_q = np.zeros(n, dtype=np.uint8)
    preflow(D, off, res, tr, np.zeros(n, dtype=np.int64), in_q,
            np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32), n)
    assert not in_q.any()


def finish_with_bk(off, res, tr, H, W):
    """BK from the given state; the canonical keep-mask."""
    n = tr.shape[0]
    D = res.shape[0] // n
    tree = np.zeros(n, dtype=np.uint8)
    bk._maxflow(bk._direction_type(D // 2), off, res, tr, tree,
                np.full(n, bk._NO_PARENT, dtype=np.int8), np.zeros(n, dtype=np.int32),
                np.zeros(n, dtype=np.int32), np.zeros(n, dtype=np.uint8),
                np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32),
                np.empty(n, dtype=np.int32))
    out = np.empty((H, W), dtype=np.bool_)
    bk._write_mask(H, W, tree, out)
    return out


def source_side_mask(off, res, tr, H, W) -> np.ndarray:
    """The keep-mask of :func:`source_side` after a preflow (tokens not on the source side)."""
    n = tr.shape[0]
    tree = np.zeros(n, dtype=np.uint8)
    source_side(res.shape[0] // n, off, res, tr, tree, np.empty(n, dtype=np.int32), n,
                bk._SOURCE)
    out = np.empty((H, W), dtype=np.bool_)
    bk._write_mask(H, W, tree, out)
    return out


def reaches_sink(off, res, tr) -> np.ndarray:
    """Nodes with a residual path to a node of residual sink capacity (``tr < 0``)."""
    n = tr.shape[0]
    D = res.shape[0] // n
    seen = tr < 0.0
    todo = deque(np.flatnonzero(seen))
    while todo:
        i = todo.popleft()
        for d in range(D):
            j = i + off[d]
            if 0 <= j < n and not seen[j] and res[j * D + (d ^ (D // 2))] > 0.0:
                seen[j] = True
                todo.append(j)
    return seen


def cut_of_residuals(off, res, tr, mask: np.ndarray) -> float:
    """``Σ tr_i m_i + Σ_{i dropped, j kept} res_ij``: the energy of ``mask`` up to a
    constant for any flow (bk.py, "Warm start")."""
    H, W = mask.shape
    n = tr.shape[0]
    D = res.shape[0] // n
    keep = np.zeros((H + 2, W + 2), dtype=bool)
    keep[1:-1, 1:-1] = mask
    keep = keep.ravel()
    total = float(tr[keep].sum())
    for i in np.flatnonzero(~keep):
        for d in range(D):
            j = i + off[d]
            if 0 <= j < n and keep[j]:
                total += res[i * D + d]
    return total


def dyadic_energy(rng, H, W, K, balanced):
    unary = rng.integers(-12, 13, (H, W)).astype(np.float64) / 4
    if balanced:  # a plateau at its critical λ: every token nearly tied, sum exactly zero
        unary -= unary.mean()
        unary = np.round(unary * 64) / 64
        unary[0, 0] -= unary.sum()
    pairwise = rng.integers(0, 9, (K, H, W)).astype(np.float64) / 8
    return unary, pairwise


@pytest.mark.parametrize("K", [2, 4])
@pytest.mark.parametrize("balanced", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_preflow_is_maximal_and_bk_finishes_to_the_same_canonical_cut(K, balanced, seed):
    rng = np.random.default_rng(seed)
    H, W = (1, 40) if seed == 5 else (int(rng.integers(2, 30)), int(rng.integers(2, 30)))
    unary, pairwise = dyadic_energy(rng, H, W, K, balanced)
    off, res, tr = residual_graph(unary, pairwise)
    supply, total = tr[tr > 0].sum(), tr.sum()
    masks = rng.random((5, H, W)) < 0.5
    before = [cut_of_residuals(off, res, tr, m) for m in masks]
    run_preflow(off, res, tr)
    assert (res >= 0.0).all()
    assert tr.sum() == total and tr[tr > 0].sum() <= supply  # flow only moved (exact)
    # still a residual graph of the same energy: every mask's cut changes by one constant
    after = [cut_of_residuals(off, res, tr, m) for m in masks]
    assert len({a - b for a, b in zip(after, before)}) == 1
    # a maximum preflow: no excess can still reach the sink
    assert not (reaches_sink(off, res, tr) & (tr > 0.0)).any()
    want = bk.grid_mincut_batch(unary[None], pairwise[None])[0]
    # the source side of the preflow is the cut BK's finish grows from it
    np.testing.assert_array_equal(source_side_mask(off, res, tr, H, W), want)
    np.testing.assert_array_equal(finish_with_bk(off, res, tr, H, W), want)


def test_no_excess_leaves_everything_alone():
    unary = -np.ones((3, 4))
    pairwise = np.ones((2, 3, 4))
    off, res, tr = residual_graph(unary, pairwise)
    before = res.copy(), tr.copy()
    run_preflow(off, res, tr)
    np.testing.assert_array_equal(res, before[0])
    np.testing.assert_array_equal(tr, before[1])


@pytest.mark.parametrize(("H", "W"), [(64, 64), (9, 31), (1, 300)])
def test_graphcut_of_small_8_connected_maps_equals_bk(H, W):
    """``graphcut`` cuts 8-connected maps of <= PREFLOW_MAX_TOKENS tokens by the preflow:
    the same canonical mask as BK from the same residual graph (dyadic: bit for bit)."""
    assert H * W <= bk.PREFLOW_MAX_TOKENS
    for seed in range(3):
        unary, pairwise = dyadic_energy(np.random.default_rng(seed), H, W, 4, seed == 2)
        off, res, tr = residual_graph(unary, pairwise)
        want = finish_with_bk(off, res, tr, H, W)
        np.testing.assert_array_equal(bk.grid_mincut_batch(unary[None], pairwise[None])[0], want)


@settings(max_examples=examples(40), deadline=None)
@given(energy_cases(kinds=EXACT_KINDS, max_batch=1, max_side=16, constant=False))
def test_property_preflow_source_side_is_bks_canonical_cut(case):
    """Any exact-kind energy (4/8-conn, odd shapes, zero weights or unaries): the source
    side of the maximum preflow equals BK's canonical cut from the same residual graph."""
    unary, pairwise = (np.ascontiguousarray(a[0]) for a in case.energy.numpy())
    H, W = unary.shape
    off, res, tr = residual_graph(unary, pairwise)
    want = finish_with_bk(off, res.copy(), tr.copy(), H, W)
    run_preflow(off, res, tr)
    assert not (reaches_sink(off, res, tr) & (tr > 0.0)).any()
    np.testing.assert_array_equal(source_side_mask(off, res, tr, H, W), want)
