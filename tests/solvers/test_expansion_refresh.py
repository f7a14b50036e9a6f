"""α-moves updated around the changed tokens (``_refresh_move``) equal full rebuilds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import ersm
from ersm.solvers.kernels import expansion
from ersm.solvers.kernels.bk import grid_state_sizes
from ersm.solvers.kernels.bk_reuse import new_scratch


def _costs(unary: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(unary, 0, -1))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), height=st.integers(1, 9), width=st.integers(1, 9),
       n_labels=st.integers(2, 5), connectivity=st.sampled_from([4, 8]),
       n_changed=st.integers(1, 12))
def test_refresh_equals_a_full_build_bit_for_bit(seed, height, width, n_labels, connectivity,
                                                 n_changed):
    """Generic floats: the refreshed ``θ``/``c`` are the full build's, to the last bit, and
    the residual state moves by exactly the terms that changed."""
    rng = np.random.default_rng(seed)
    k = 2 if connectivity == 4 else 4
    costs = _costs(rng.normal(0, 1, (n_labels, height, width)))
    pairwise = rng.uniform(0, 2, (k, height, width))
    labels = rng.integers(0, n_labels, (height, width))
    alpha = int(rng.integers(0, n_labels))
    theta, w = np.empty((height, width)), np.zeros((k, height, width))
    expansion._build_move(costs, pairwise, labels, alpha, theta, w)
    changed = rng.integers(0, height * width, n_changed)  # repeats allowed, as in the log
    labels.ravel()[changed] = rng.integers(0, n_labels, n_changed)
    n_res, n_tr = grid_state_sizes(height, width, k)
    res, tr = np.zeros(n_res), np.zeros(n_tr)
    scratch = new_scratch(n_tr)
    theta0 = theta.copy()
    n_todo = expansion._refresh_move(costs, pairwise, labels, alpha, theta, w,
                                     changed.astype(np.int32), 0, n_changed, res, tr, scratch)
    want_theta, want_w = np.empty_like(theta), np.zeros_like(w)
    expansion._build_move(costs, pairwise, labels, alpha, want_theta, want_w)
    np.testing.assert_array_equal(theta, want_theta)
    np.testing.assert_array_equal(w, want_w)
    # the listed nodes are exactly those whose unary or an incident edge changed
    todo = set(scratch[3][:n_todo].tolist())
    assert len(todo) == n_todo and scratch[4].sum() == n_todo
    padded = (np.arange(height)[:, None] + 1) * (width + 2) + np.arange(width)[None, :] + 1
    assert set(padded[theta != theta0].tolist()) <= todo
    np.testing.assert_array_equal(tr[padded][~np.isin(padded, list(todo))], 0)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), height=st.integers(1, 10), width=st.integers(1, 10),
       n_labels=st.integers(3, 6), connectivity=st.sampled_from([4, 8]),
       schedule=st.sampled_from(["adaptive", "cyclic"]),
       polish=st.sampled_from([None, "fusion"]),
       init=st.sampled_from(["zeros", "unary", "random"]), max_cycles=st.sampled_from([1, 2, 100]))
def test_warm_refreshed_moves_equal_cold_moves(seed, height, width, n_labels, connectivity,
                                               schedule, polish, init, max_cycles):
    """Dyadic energies (exact sums): warm moves (refreshed or rebuilt) give the labels of
    cold moves (maps of ≥ 8 tokens refresh a move when ≤ 1/8 of them changed)."""
    rng = np.random.default_rng(seed)
    k = 2 if connectivity == 4 else 4
    unary = np.round(rng.normal(0, 1, (2, n_labels, height, width)) * 32) / 32
    pairwise = np.round(rng.uniform(0, 1.5, (2, k, height, width)) * 32) / 32
    energy = ersm.PottsEnergy(unary, pairwise, connectivity)
    start = rng.integers(0, n_labels, (2, height, width)) if init == "random" else init
    options = dict(schedule=schedule, polish=polish, init=start, max_cycles=max_cycles)
    warm = ersm.solve(energy, recycle=True, **options)
    cold = ersm.solve(energy, recycle=False, **options)
    np.testing.assert_array_equal(warm.labels, cold.labels)
    np.testing.assert_array_equal(warm.info["moves"], cold.info["moves"])
