"""``brute`` compares energies exactly (issue 14, item 4)."""

import numpy as np
import pytest

import ersm
from ersm.solvers.backends.brute import brute_force_masks


def test_wide_range_tie_in_float_sums():
    """``-1e17 + 1 + 0.5 == -1e17`` in float64; the exact optimum drops the second token."""
    energy = ersm.GridEnergy(np.array([[-1e17, 1.0]]), np.array([[[0.5, 0.0]], [[0.0, 0.0]]]))
    np.testing.assert_array_equal(ersm.solve(energy, backend="brute").mask, [[True, False]])


def test_agrees_with_exact_integer_reference_on_wide_ranges():
    rng = np.random.default_rng(4)
    for _ in range(200):
        h, w = rng.integers(1, 4, 2)
        u = (rng.choice([-1, 1], (1, h, w)) * rng.integers(1, 10, (1, h, w))
             * 10.0 ** rng.integers(-20, 21, (1, h, w)))
        p = rng.integers(0, 4, (1, 2, h, w)) * 10.0 ** rng.integers(-20, 21, (1, 2, h, w)) / 2
        energy = ersm.GridEnergy(u, p)
        np.testing.assert_array_equal(ersm.solve(energy, backend="brute").mask,
                                      ersm.solve(energy, backend="reference").mask)


@pytest.mark.parametrize("scale", [1.0, 1e300, 1e-300])
def test_extreme_magnitudes_and_union_of_ties(scale):
    # every mask of a 2 x 2 grid with θ = 0, w = 0 is optimal: the union keeps everything
    zero = ersm.GridEnergy(np.zeros((2, 2)), np.zeros((2, 2, 2)))
    assert ersm.solve(zero, backend="brute").mask.all()
    # huge and tiny values together: the float sums overflow or lose the small terms
    u = np.array([[[-scale, 1e-300, -1e300]]])
    p = np.array([[[[1e-300, 1e300, 0.0]], [[0.0, 0.0, 0.0]]]])
    want = ersm.solve(ersm.GridEnergy(u, p), backend="reference").mask
    np.testing.assert_array_equal(brute_force_masks(u, p), want)


def test_negative_weights_are_solved_exactly():
    """``brute`` accepts non-submodular energies; check against a direct enumeration."""
    rng = np.random.default_rng(5)
    u = rng.integers(-3, 4, (1, 2, 3)).astype(float)
    p = rng.integers(-2, 3, (1, 2, 2, 3)).astype(float)
    energy = ersm.GridEnergy(u, p)
    masks = np.array([[(c >> i) & 1 for i in range(6)] for c in range(64)], bool).reshape(64, 2, 3)
    values = np.array([float(energy.energy(m[None])[0]) for m in masks])
    want = masks[values == values.min()].any(0)
    np.testing.assert_array_equal(ersm.solve(energy, backend="brute").mask[0], want)
