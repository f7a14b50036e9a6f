"""The compiled mask / Potts energy sums against plain NumPy, on every code path."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ersm.core import parallel
from ersm.energy import potts_sum
from ersm.energy.offsets import OFFSETS
from ersm.energy.potts_sum import mask_energy_numpy, potts_energy_numpy


def _reference(unary, pairwise, mask):
    """Σ θ m + Σ w [m_i ≠ m_j] with Python floats, term by term."""
    B, H, W = mask.shape
    out = []
    for b in range(B):
        total = math.fsum(unary[b][mask[b]].tolist())
        cut = []
        for k in range(pairwise.shape[1]):
            dy, dx = OFFSETS[k]
            for y in range(H - dy):
                for x in range(W):
                    if 0 <= x + dx < W and mask[b, y, x] != mask[b, y + dy, x + dx]:
                        cut.append(pairwise[b, k, y, x])
        out.append(total + math.fsum(cut))
    return np.array(out)


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 1, 9), (3, 7, 1), (2, 13, 17), (1, 64, 70)])
@pytest.mark.parametrize("K", [2, 4])
def test_matches_a_term_by_term_sum(shape, K):
    rng = np.random.default_rng(sum(shape) + K)
    unary = rng.normal(size=shape)
    pairwise = rng.random((shape[0], K) + shape[1:])
    mask = rng.random(shape) < 0.5
    np.testing.assert_allclose(mask_energy_numpy(unary, pairwise, mask),
                               _reference(unary, pairwise, mask), rtol=1e-12, atol=1e-12)


def test_threaded_rows_equal_the_inline_sum_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(0)
    unary = rng.normal(size=(3, 40, 50))
    pairwise = rng.random((3, 4, 40, 50))
    mask = rng.random((3, 40, 50)) < 0.5
    inline = mask_energy_numpy(unary, pairwise, mask)
    monkeypatch.setattr(potts_sum, "_PARALLEL_MIN_TERMS", 1)
    parallel.set_num_threads(3)
    try:
        threaded = mask_energy_numpy(unary, pairwise, mask)
    finally:
        parallel.set_num_threads(None)
    assert threaded.tobytes() == inline.tobytes()


def test_dropped_infinite_terms_add_nothing():
    unary = np.array([[[np.inf, -np.inf, 1.0]]])
    pairwise = np.zeros((1, 2, 1, 3))
    pairwise[0, 0, 0, 1] = np.inf  # edge between tokens 1 and 2
    mask = np.array([[[False, False, True]]])
    assert mask_energy_numpy(unary, pairwise, mask)[0] == np.inf  # the cut edge
    mask = np.array([[[False, True, True]]])
    assert mask_energy_numpy(unary, pairwise, mask)[0] == -np.inf  # no cut, θ = -inf kept
    mask = np.array([[[False, False, False]]])
    assert mask_energy_numpy(unary, pairwise, mask)[0] == 0.0


def test_strided_inputs_and_potts_cut_with_negative_offsets():
    rng = np.random.default_rng(1)
    unary = rng.normal(size=(2, 9, 12))[:, :, ::2]
    pairwise = rng.random((2, 4, 9, 12))[:, :, :, 1::2]
    mask = (rng.random((2, 9, 12)) < 0.5)[:, :, ::2]
    np.testing.assert_allclose(mask_energy_numpy(unary, pairwise, mask),
                               _reference(unary, pairwise, mask), rtol=1e-12)
    labels = mask.astype(np.int64)
    two = np.stack([np.zeros_like(unary), unary], axis=1)
    np.testing.assert_allclose(potts_energy_numpy(two, pairwise, labels),
                               _reference(unary, pairwise, mask), rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 1, 9), (3, 7, 1), (2, 13, 17), (1, 64, 70)])
@pytest.mark.parametrize("K", [2, 4])
def test_per_map_sum_equals_the_batch_sum_bit_for_bit(shape, K):
    rng = np.random.default_rng(sum(shape) * K)
    unary = rng.normal(size=shape) * 1e3
    pairwise = rng.random((shape[0], K) + shape[1:]) * rng.choice([1e-9, 1.0, 1e9])
    mask = rng.random(shape) < 0.5
    per_map = np.array([potts_sum.mask_energy_map(unary[b], pairwise[b], mask[b])
                        for b in range(shape[0])])
    assert per_map.tobytes() == mask_energy_numpy(unary, pairwise, mask).tobytes()


@pytest.mark.parametrize("K", [2, 4])
def test_sums_near_the_float64_limit_are_not_nan(K):
    """Partial sums that overflow both ways used to give ``inf − inf = NaN``: the total is
    the exact scaled sum when representable, else the correctly signed infinity; the
    solver reports the same energy as ``GridEnergy.energy``."""
    import ersm

    rng = np.random.default_rng(4)
    unary = np.round(rng.normal(size=(2, 24, 24)) * 8)
    pairwise = np.round(rng.random((2, K, 24, 24)) * 6)
    mask = ersm.solve(ersm.GridEnergy(unary, pairwise, 2 * K)).mask
    unit = mask_energy_numpy(unary, pairwise, mask)  # integers: exact
    top = 1023 - math.frexp(max(np.abs(unary).max(), pairwise.max()))[1]  # inputs finite
    with np.errstate(over="ignore"):
        assert np.isneginf(unit * 2.0 ** top).all() and np.isfinite(unit * 2.0 ** 1012).all()
    for k in (1012, top):
        scale = 2.0 ** k
        with np.errstate(over="ignore"):
            want = unit * scale
        assert np.isfinite(unary * scale).all() and np.isfinite(pairwise * scale).all()
        got = mask_energy_numpy(unary * scale, pairwise * scale, mask)
        np.testing.assert_array_equal(got, want)
        solved = ersm.solve(ersm.GridEnergy(unary * scale, pairwise * scale, 2 * K))
        np.testing.assert_array_equal(solved.mask, mask)
        np.testing.assert_array_equal(solved.energy, got)
