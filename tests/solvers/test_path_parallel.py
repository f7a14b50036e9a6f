"""The within-map parallel phase of the path kernel (maps with fewer maps than threads).

After its first cuts a map's undecided tokens form independent segments; they are solved
in groups on the thread pool. The result must be the serial one bit for bit (same cuts),
and exact against the full-grid reference and the brute force.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import energy_cases

from ersm.core.parallel import set_num_threads
from ersm.solvers.path import kernel
from ersm.solvers.path.reference import path_thresholds_reference


@pytest.fixture
def two_threads_every_map(monkeypatch):
    """Two kernel threads and the parallel phase for every map size."""
    monkeypatch.setattr(kernel, "_PARALLEL_MIN_TOKENS", 0)
    set_num_threads(2)
    yield
    set_num_threads(None)


def _serial(unary, pairwise, lam_min=-np.inf, lam_max=np.inf):
    out = np.empty(unary.shape)
    stats = np.zeros((len(unary), kernel._N_STATS), dtype=np.int64)
    kernel._path_range(0, len(unary), unary, pairwise, lam_min, lam_max, out, stats)
    return out, stats


def _picture_like(rng, H, W, conn):
    """Blobs plus noise, dyadic: long boundaries, many segments after the first cut."""
    yy, xx = np.mgrid[:H, :W]
    image = (np.sin(yy / 3.0) * np.cos(xx / 4.0) > 0.2).astype(float)
    image += rng.normal(0, 0.4, (H, W))
    theta = np.round(-(image - 0.5) * 128) / 64
    K = 2 if conn == 4 else 4
    pw = np.round(rng.uniform(0, 1, (K, H, W)) * 32) / 64
    return theta[None], pw[None]


@pytest.mark.parametrize("conn", [4, 8])
def test_parallel_equals_serial_and_reference(two_threads_every_map, conn):
    rng = np.random.default_rng(conn)
    unary, pairwise = _picture_like(rng, 20, 23, conn)
    got, stats = kernel.path_thresholds_batch(unary, pairwise)
    want, want_stats = _serial(unary, pairwise)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(stats, want_stats)
    np.testing.assert_array_equal(got, path_thresholds_reference(unary, pairwise))


def test_parallel_pruning_equals_serial(two_threads_every_map):
    unary, pairwise = _picture_like(np.random.default_rng(3), 17, 19, 4)
    for lo, hi in ((-0.25, 0.5), (0.0, 0.0), (-np.inf, -0.125)):
        got, _ = kernel.path_thresholds_batch(unary, pairwise, lo, hi)
        np.testing.assert_array_equal(got, _serial(unary, pairwise, lo, hi)[0])


def test_parallel_used_for_one_large_map(monkeypatch):
    calls = []
    real = kernel._path_map_parallel
    monkeypatch.setattr(kernel, "_path_map_parallel",
                        lambda *args: calls.append(args[-1]) or real(*args))
    set_num_threads(2)
    try:
        unary, pairwise = _picture_like(np.random.default_rng(4), 64, 64, 4)
        got, _ = kernel.path_thresholds_batch(unary, pairwise)
        kernel.path_thresholds_batch(np.repeat(unary, 2, 0), np.repeat(pairwise, 2, 0))
    finally:
        set_num_threads(None)
    assert calls == [2]  # one map on two threads; two maps run one per thread
    np.testing.assert_array_equal(got, _serial(unary, pairwise)[0])


@settings(max_examples=30, deadline=None)
@given(energy_cases(kinds=("dyadic", "float", "generic"), max_side=7, max_batch=1))
def test_property_parallel_equals_serial(case):
    unary, pairwise = case.energy.numpy()
    want, want_stats = _serial(unary, pairwise)
    set_num_threads(2)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(kernel, "_PARALLEL_MIN_TOKENS", 0)
            got, stats = kernel.path_thresholds_batch(unary, pairwise)
    finally:
        set_num_threads(None)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(stats, want_stats)
    if case.exact:
        np.testing.assert_array_equal(got, path_thresholds_reference(unary, pairwise))


def test_balanced_groups():
    sizes = np.array([100.0, 1.0, 50.0, 50.0, 3.0])
    perm, ptr = kernel._balanced_groups(sizes, 2)
    assert sorted(perm.tolist()) == list(range(5)) and ptr[0] == 0 and ptr[-1] == 5
    groups = [set(perm[ptr[g]:ptr[g + 1]].tolist()) for g in range(2)]
    assert {0} <= groups[0] or {0} <= groups[1]
    assert any(g >= {2, 3} for g in groups)  # the two halves balance the big one
