"""``graphcut`` warm starts refuse states that would round the new energy away (issue 14.5)."""

import numpy as np
import pytest

import ersm
from ersm.solvers.backends.graphcut import WARM_SCALE_LIMIT, warm_start_unsafe


def _integer_energy(seed, batch=1, size=4):
    rng = np.random.default_rng(seed)
    u = rng.integers(-5, 6, (batch, size, size)).astype(float)
    p = rng.integers(0, 4, (batch, 2, size, size)).astype(float)
    return u, p


@pytest.mark.parametrize("seed", range(20))
def test_warm_start_from_much_larger_energy_equals_cold(seed):
    u, p = _integer_energy(seed)
    big = ersm.solve(ersm.GridEnergy(u * 1e17, p * 1e17), keep_state=True)
    energy = ersm.GridEnergy(u, p)
    warm = ersm.solve(energy, warm_start=big)
    np.testing.assert_array_equal(warm.mask, ersm.solve(energy).mask)
    np.testing.assert_array_equal(warm.mask, ersm.solve(energy, backend="reference").mask)
    assert warm.info["cold_maps"].tolist() == [True]


def test_only_the_unsafe_maps_are_solved_cold():
    u, p = _integer_energy(1, batch=3)
    scale = np.array([1.0, 1e17, 1.0])[:, None, None]
    state = ersm.solve(ersm.GridEnergy(u * scale, p * scale[:, None]), keep_state=True).state
    energy = ersm.GridEnergy(u + 0.25, p)  # not integral: the scale rule decides
    result = ersm.solve(energy, warm_start=state, keep_state=True)
    assert result.info["cold_maps"].tolist() == [False, True, False]
    np.testing.assert_array_equal(result.mask, ersm.solve(energy).mask)
    again = ersm.solve(energy, warm_start=result)  # the mixed state is a valid state
    assert not again.info["cold_maps"].any()
    np.testing.assert_array_equal(again.mask, result.mask)


def test_exact_integer_states_stay_warm():
    """Integers below 2**52 update exactly: no fallback even across a large scale change."""
    u, p = _integer_energy(2)
    state = ersm.solve(ersm.GridEnergy(u * 2**20, p * 2**20), keep_state=True).state
    assert not warm_start_unsafe(state, u, p).any()
    warm = ersm.solve(ersm.GridEnergy(u, p), warm_start=state)
    assert not warm.info["cold_maps"].any()
    np.testing.assert_array_equal(warm.mask, ersm.solve(ersm.GridEnergy(u, p)).mask)


def test_scale_rule_threshold():
    u, p = _integer_energy(3)
    u, p = u + 0.1, p * 0.3  # generic floats
    small = ersm.GridEnergy(u, p)
    near = ersm.solve(ersm.GridEnergy(u * 2, p * 2), keep_state=True).state
    far = ersm.solve(ersm.GridEnergy(u * 10 * WARM_SCALE_LIMIT, p * 10 * WARM_SCALE_LIMIT),
                     keep_state=True).state
    assert not warm_start_unsafe(near, *small.numpy()).any()
    assert warm_start_unsafe(far, *small.numpy()).all()
