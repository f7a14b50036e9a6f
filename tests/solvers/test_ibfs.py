"""IBFS grid min-cut kernel (issue 15 prototype): the same canonical mask as BK."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_bk_kernel import brute_force_min, canonical_oracle, energy

from ersm.solvers.kernels.bk import _strip_count, grid_mincut_batch
from ersm.solvers.kernels.ibfs import ibfs_mincut_batch


@st.composite
def integer_maps(draw, max_side: int = 9):
    """A batch of one or two maps with small integer energies (many exact ties, zeros)."""
    B = draw(st.integers(1, 2))
    H = draw(st.integers(1, max_side))
    W = draw(st.integers(1, max_side))
    K = draw(st.sampled_from([2, 4]))
    span = draw(st.integers(0, 6))
    unary = draw(hnp.arrays(np.int64, (B, H, W), elements=st.integers(-span, span)))
    pairwise = draw(hnp.arrays(np.int64, (B, K, H, W), elements=st.integers(0, span)))
    return unary.astype(np.float64), pairwise.astype(np.float64)


@settings(max_examples=300, deadline=None)
@given(integer_maps())
def test_equals_bk_on_integer_energies(maps):
    unary, pairwise = maps
    np.testing.assert_array_equal(ibfs_mincut_batch(unary, pairwise),
                                  grid_mincut_batch(unary, pairwise))


@pytest.mark.parametrize("K", [2, 4])
def test_canonical_mask_against_scipy_oracle(K):
    rng = np.random.default_rng(15)
    for _ in range(40):
        H, W = (int(v) for v in rng.integers(2, 14, size=2))
        unary = rng.integers(-12, 13, size=(H, W)) / 8.0
        pairwise = rng.integers(0, 9, size=(K, H, W)) / 8.0
        mask = ibfs_mincut_batch(unary[None], pairwise[None])[0]
        np.testing.assert_array_equal(mask, canonical_oracle(unary, pairwise))


@pytest.mark.parametrize("K", [2, 4])
def test_brute_force_small_grids(K):
    rng = np.random.default_rng(7)
    for _ in range(30):
        H, W = (int(v) for v in rng.integers(1, 4, size=2))
        unary = rng.normal(size=(H, W))
        pairwise = rng.exponential(size=(K, H, W))
        mask = ibfs_mincut_batch(unary[None], pairwise[None])[0]
        got = float(energy(unary, pairwise, mask))
        assert got == pytest.approx(brute_force_min(unary, pairwise), abs=1e-9)


@pytest.mark.parametrize("K", [2, 4])
@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (29, 1), (2, 2)])
def test_degenerate_shapes_and_zeros(K, shape):
    rng = np.random.default_rng(3)
    unary = rng.integers(-3, 4, size=(1,) + shape).astype(np.float64)
    pairwise = rng.integers(0, 3, size=(1, K) + shape).astype(np.float64)
    np.testing.assert_array_equal(ibfs_mincut_batch(unary, pairwise),
                                  grid_mincut_batch(unary, pairwise))
    zeros_u = np.zeros((1,) + shape)
    zeros_p = np.zeros((1, K) + shape)
    assert ibfs_mincut_batch(zeros_u, zeros_p).all()  # nothing reachable: all kept
    assert ibfs_mincut_batch(zeros_u, zeros_p + 1.0).all()


@pytest.mark.parametrize("K", [2, 4])
def test_image_like_energy_equals_bk(K):
    """Long augmenting paths, relabel cascades, both trees growing (64² blobs + noise)."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[:64, :64]
    blob = ((y - 30) ** 2 + (x - 34) ** 2 < 400).astype(np.float64)
    image = blob + 0.6 * rng.normal(size=blob.shape)
    unary = np.rint(-(image - 0.5) * 2.0 * 64) / 64
    grad = np.stack([np.abs(np.roll(image, -1, axis=a) - image) for a in (1, 0)] * (K // 2))
    pairwise = np.rint(np.exp(-grad**2) * 64) / 64
    np.testing.assert_array_equal(ibfs_mincut_batch(unary[None], pairwise[None]),
                                  grid_mincut_batch(unary[None], pairwise[None]))


@pytest.mark.parametrize("K", [2, 4])
@pytest.mark.parametrize("shape", [(130, 520), (256, 257)])
def test_strips_equal_bk(K, shape):
    """Maps of >= 2**16 tokens: IBFS per strip (2 / 4 strips), then bk's join."""
    assert _strip_count(*shape) > 1
    rng = np.random.default_rng(shape[0] + K)
    unary = rng.integers(-6, 7, size=(1,) + shape).astype(np.float64)
    pairwise = rng.integers(0, 5, size=(1, K) + shape).astype(np.float64)
    np.testing.assert_array_equal(ibfs_mincut_batch(unary, pairwise),
                                  grid_mincut_batch(unary, pairwise))


def test_inputs_unchanged_and_empty_batch():
    rng = np.random.default_rng(0)
    unary = rng.normal(size=(2, 5, 6))
    pairwise = rng.exponential(size=(2, 4, 5, 6))
    u0, p0 = unary.copy(), pairwise.copy()
    ibfs_mincut_batch(unary, pairwise)
    np.testing.assert_array_equal(unary, u0)
    np.testing.assert_array_equal(pairwise, p0)
    assert ibfs_mincut_batch(np.zeros((0, 3, 4)), np.zeros((0, 2, 3, 4))).shape == (0, 3, 4)
