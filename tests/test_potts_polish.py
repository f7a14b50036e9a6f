"""``expansion`` with ``polish="fusion"``: a reverse-order run fused in (issue 16)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ersm
from ersm.core.optional import importable
from ersm.solvers.kernels.expansion import _build_fusion
from ersm.solvers.backends.expansion import SPEC
from test_potts import alpha_move_energy, random_potts


def test_smoke():
    energy = random_potts(2, 5, 6, 7, seed=1)
    result = ersm.solve(energy, polish="fusion")
    np.testing.assert_array_equal(result.energy, energy.energy(result.labels))
    assert result.converged.all() and result.labels.dtype == np.int64


def test_batch_equals_per_item():
    energy = random_potts(3, 4, 6, 6, seed=2)
    labels = ersm.solve(energy, polish="fusion").labels
    for b in range(3):
        np.testing.assert_array_equal(labels[b], ersm.solve(energy.select(b),
                                                            polish="fusion").labels[0])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), labels=st.integers(3, 6), height=st.integers(1, 7),
       width=st.integers(1, 7), connectivity=st.sampled_from([4, 8]), integer=st.booleans(),
       recycle=st.booleans())
def test_polish_never_increases_energy(seed, labels, height, width, connectivity, integer,
                                       recycle):
    """The forward run is the plain one; fusions and later moves only lower the energy."""
    energy = random_potts(2, labels, height, width, connectivity, seed=seed % 10**6,
                          integer=integer, pairwise_scale=2.0)
    plain = ersm.solve(energy, recycle=recycle)
    polished = ersm.solve(energy, recycle=recycle, polish="fusion")
    assert (polished.energy <= plain.energy + 1e-9).all()
    assert polished.converged.all()


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("recycle", [True, False])
def test_no_alpha_move_improves_after_polish(connectivity, recycle):
    """The polished labelling is still an α-expansion local minimum (exact binary cut of
    every α-move)."""
    energy = random_potts(3, 5, 8, 9, connectivity, seed=19, pairwise_scale=1.5)
    result = ersm.solve(energy, recycle=recycle, polish="fusion")
    for alpha in range(5):
        best = ersm.solve(alpha_move_energy(energy, result.labels, alpha))
        assert (best.energy >= result.energy - 1e-9).all()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), height=st.integers(1, 3), width=st.integers(1, 3),
       connectivity=st.sampled_from([4, 8]))
def test_fusion_move_bound_majorises_and_is_tight(seed, height, width, connectivity):
    """The fusion move's binary energy is ≥ E(fused labels) for every choice and equal to
    E(labels) when every token keeps its label (brute force over all choices)."""
    rng = np.random.default_rng(seed)
    energy = random_potts(1, 4, height, width, connectivity, seed=seed % 10**6)
    unary, pairwise = energy.numpy()
    labels, prop = rng.integers(0, 4, (2, height, width))
    theta = np.empty((height, width))
    w = np.zeros(pairwise.shape[1:])
    _build_fusion(np.ascontiguousarray(np.moveaxis(unary[0], 0, -1)), pairwise[0], labels,
                  prop, theta, w)
    assert (w >= 0).all()
    base = float(energy.energy(labels[None])[0])
    bound = ersm.GridEnergy(theta[None], w[None], connectivity, np.array([base]))
    choices = np.array(list(itertools.product([False, True], repeat=height * width)))
    choices = choices.reshape(-1, height, width)
    fused = np.where(choices, prop, labels)
    many = ersm.PottsEnergy(np.repeat(unary, len(choices), 0), np.repeat(pairwise, len(choices), 0),
                            connectivity)
    got = ersm.GridEnergy(np.repeat(theta[None], len(choices), 0),
                          np.repeat(w[None], len(choices), 0), connectivity,
                          np.full(len(choices), base)).energy(choices)
    assert (got >= many.energy(fused) - 1e-9).all()
    assert float(bound.energy(np.zeros((1, height, width), bool))[0]) == pytest.approx(base)


@pytest.mark.parametrize("polish", ["swap", "", True, 1])
def test_exception_polish(polish):
    energy = random_potts(1, 3, 3, 3)
    with pytest.raises(ValueError, match="polish must be one of"):
        ersm.solve(energy, polish=polish)


def test_option_is_listed_with_its_default():
    assert SPEC.defaults["polish"] is None


@pytest.mark.skipif(not importable("gco"), reason="gco-wrapper not installed")
def test_polished_energy_not_above_gco_on_integer_energies():
    """Random integer Potts energies (6 labels, 16 × 16): polished, ours is never above
    GCO's (the plain run is GCO's own labels, fusion only lowers it) and mostly below."""
    ours, theirs = [], []
    for seed in range(20):
        energy = random_potts(1, 6, 16, 16, seed=100 + seed, integer=True)
        ours.append(float(ersm.solve(energy, polish="fusion").energy[0]))
        theirs.append(float(ersm.solve(energy, backend="gco").energy[0]))
    ours, theirs = np.array(ours), np.array(theirs)
    assert (ours <= theirs).all()
    assert (ours < theirs).sum() >= len(ours) // 2
