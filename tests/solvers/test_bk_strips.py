"""One map solved in strips (issue 15): same canonical cut as in one piece."""

from __future__ import annotations

import numpy as np
import pytest

from ersm.core.parallel import set_num_threads
from ersm.solvers.kernels import bk


def _dyadic_energy(rng: np.random.Generator, h: int, w: int, k: int):
    """Energies whose every partial sum is exact in float64 (so the cut is canonical)."""
    unary = np.round(rng.normal(size=(1, h, w)) * 8) / 8
    pairwise = np.round(rng.random((1, k, h, w)) * 8) / 8 * float(rng.choice([0.25, 1.0, 3.0]))
    return unary, pairwise


def _one_piece(unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """The cold solve without strips (the warm-start driver never splits)."""
    return bk.grid_mincut_batch_warm(unary, pairwise, None)[0]


@pytest.mark.parametrize("threads", [1, 2])
def test_strips_match_one_piece_on_small_maps(threads: int) -> None:
    rng = np.random.default_rng(15)
    set_num_threads(threads)
    try:
        for _ in range(60):
            h, w = int(rng.integers(2, 16)), int(rng.integers(1, 16))
            unary, pairwise = _dyadic_energy(rng, h, w, int(rng.choice([2, 4])))
            want = _one_piece(unary, pairwise)[0]
            for strips in range(2, min(h, 5) + 1):
                got = np.empty((h, w), dtype=bool)
                bk._solve_map_threaded(unary[0], pairwise[0], got, strips)
                np.testing.assert_array_equal(got, want)
    finally:
        set_num_threads(None)


def test_strip_count_rule() -> None:
    assert bk._strip_count(255, 256) == 1  # below STRIP_MIN_TOKENS
    for h, w in [(131, 517), (257, 256), (427, 640), (1024, 1024), (4096, 64), (64, 4096)]:
        strips = bk._strip_count(h, w)
        assert 1 <= strips <= bk.STRIP_MAX
        assert strips == 1 or h // strips >= bk.STRIP_MIN_ROWS
    assert bk._strip_count(257, 256) == bk.STRIP_MIN
    assert bk._strip_count(1024, 1024) == bk.STRIP_MAX


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("h", [2 * bk.STRIP_MIN_ROWS + 3, 4 * bk.STRIP_MIN_ROWS + 1])
def test_large_map_is_split_and_canonical(k: int, h: int) -> None:
    w = -(-bk.STRIP_MIN_TOKENS // h) + 5
    assert bk._strip_count(h, w) == min(bk.STRIP_MIN, h // bk.STRIP_MIN_ROWS)
    rng = np.random.default_rng(k)
    unary, pairwise = _dyadic_energy(rng, h, w, k)
    want = _one_piece(unary, pairwise)
    for threads in (1, 2):
        set_num_threads(threads)
        try:
            np.testing.assert_array_equal(bk.grid_mincut_batch(unary, pairwise), want)
            both = bk.grid_mincut_batch(np.repeat(unary, 2, 0), np.repeat(pairwise, 2, 0))
            np.testing.assert_array_equal(both, np.repeat(want, 2, 0))
        finally:
            set_num_threads(None)
