"""Warm cuts that keep their search trees (ersm.solvers.kernels.bk_reuse): the same
canonical cut as a cold solve, over chains of changed energies and shared scratch."""

from __future__ import annotations

import numpy as np
import pytest

from ersm.solvers.kernels.bk import grid_mincut_batch, grid_state_sizes
from ersm.solvers.kernels.bk_reuse import new_scratch, solve_keep_trees, solve_reuse_trees
from ersm.solvers.kernels.expansion import expansion_batch


def _dyadic(rng, shape, scale):
    return np.round(rng.normal(size=shape) * scale * 16) / 16


def _new_state(h, w, k):
    n_res, n_tr = grid_state_sizes(h, w, k)
    trees = (np.zeros(n_tr, np.uint8), np.zeros(n_tr, np.int8), np.zeros(n_tr, np.int32),
             np.zeros(n_tr, np.int32), np.zeros(1, np.int64))
    return np.zeros(n_res), np.zeros(n_tr), trees


@pytest.mark.parametrize("k", [2, 4])
def test_chains_of_changes_give_the_cold_cut(k):
    """Two states share one scratch (as the labels of an α-expansion do); each step changes
    a random part of one state's energy (few tokens, or everything)."""
    rng = np.random.default_rng(7 + k)
    h, w = 13, 17
    scratch = new_scratch(grid_state_sizes(h, w, k)[1])
    energies, states = [], []
    for _ in range(2):
        u, p = _dyadic(rng, (h, w), 2.0), np.abs(_dyadic(rng, (k, h, w), 1.0))
        res, tr, trees = _new_state(h, w, k)
        out = np.empty((h, w), bool)
        solve_keep_trees(u, p, out, res, tr, trees, scratch)
        assert (out == grid_mincut_batch(u[None], p[None])[0]).all()
        energies.append((u, p))
        states.append((res, tr, trees))
    for step in range(60):
        s = step % 2
        u0, p0 = energies[s]
        u, p = u0.copy(), p0.copy()
        share = (0.02, 0.3, 1.0)[step % 3]
        where = rng.random((h, w)) < share
        u[where] = _dyadic(rng, (h, w), 2.0)[where]
        wk = rng.random((k, h, w)) < share
        p[wk] = np.abs(_dyadic(rng, (k, h, w), 1.0))[wk]
        res, tr, trees = states[s]
        out = np.empty((h, w), bool)
        solve_reuse_trees(u0, p0, u, p, out, res, tr, trees, scratch)
        np.testing.assert_array_equal(out, grid_mincut_batch(u[None], p[None])[0])
        energies[s] = (u, p)


@pytest.mark.parametrize("polish", [False, True])
def test_expansion_with_kept_trees_equals_cold_moves(polish):
    rng = np.random.default_rng(3)
    for trial in range(30):
        n_labels, h, w = int(rng.integers(3, 7)), int(rng.integers(3, 25)), int(rng.integers(3, 25))
        k = 2 if trial % 2 else 4
        unary = np.round(rng.random((1, n_labels, h, w)) * 64) / 16
        pairwise = np.round(rng.random((1, k, h, w)) * 32) / 32
        start = rng.integers(0, n_labels, (1, h, w))
        warm, _ = expansion_batch(unary, pairwise, start, 100, recycle=True, polish=polish)
        cold, _ = expansion_batch(unary, pairwise, start, 100, recycle=False, polish=polish)
        np.testing.assert_array_equal(warm, cold)
