"""Conformance suite: every registered backend, checks chosen by its capability flags."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ersm
from ersm.errors import ShapeError, ValueRangeError
from ersm.solvers import backends
from ersm.testing import brute_force_mask, random_grid_energy

ALL = backends()
EXACT = backends(where=lambda s: s.exact)
SUBMODULAR_ONLY = backends(where=lambda s: s.needs_submodular)
ids = lambda s: s.name  # noqa: E731


def _energy_for(spec, batch=3, height=3, width=4, connectivity=4, seed=0):
    """A random energy every backend accepts (dyadic for int-scaled backends)."""
    return random_grid_energy(batch, height, width, connectivity, seed=seed, dyadic=spec.quantised)


@pytest.mark.parametrize("spec", ALL, ids=ids)
@pytest.mark.parametrize("batched", [True, False])
def test_smoke_output_contract(spec, batched):
    energy = _energy_for(spec)
    if not batched:
        energy = ersm.GridEnergy(energy.unary[0], energy.pairwise[0])
    result = ersm.solve(energy, backend=spec.name)
    assert isinstance(result.mask, np.ndarray) and result.mask.dtype == bool
    assert result.mask.shape == energy.mask_shape
    assert np.asarray(result.energy).dtype == np.float64
    assert np.asarray(result.energy).shape == ((3,) if batched else ())
    np.testing.assert_array_equal(result.energy, energy.energy(result.mask))
    assert result.backend == spec.name


@pytest.mark.parametrize("spec", ALL, ids=ids)
def test_torch_in_torch_out(spec):
    energy = _energy_for(spec)
    u, p = (torch.from_numpy(a) for a in energy.numpy())
    result = ersm.solve(ersm.GridEnergy(u.float(), p.float()), backend=spec.name)
    assert isinstance(result.mask, torch.Tensor) and result.mask.dtype == torch.bool
    assert result.mask.device == u.device and result.mask.shape == u.shape
    assert isinstance(result.energy, torch.Tensor) and result.energy.dtype == torch.float64


@pytest.mark.parametrize("spec", ALL, ids=ids)
def test_cardinality_batch_zero(spec):
    energy = ersm.GridEnergy(np.zeros((0, 3, 3)), np.zeros((0, 2, 3, 3)))
    result = ersm.solve(energy, backend=spec.name)
    assert result.mask.shape == (0, 3, 3) and result.energy.shape == (0,)


@pytest.mark.parametrize("spec", ALL, ids=ids)
@pytest.mark.parametrize("connectivity", [4, 8])
def test_zero_weights_keep_negative_unaries(spec, connectivity):
    energy = _energy_for(spec, connectivity=connectivity)
    unary, pairwise = energy.numpy()
    result = ersm.solve(ersm.GridEnergy(unary, pairwise * 0), backend=spec.name)
    np.testing.assert_array_equal(result.mask[unary != 0], (unary < 0)[unary != 0])


@pytest.mark.parametrize("spec", ALL, ids=ids)
def test_batch_equals_per_item(spec):
    energy = _energy_for(spec, batch=4, seed=3)
    batched = ersm.solve(energy, backend=spec.name)
    for b in range(energy.batch_size):
        single = ersm.solve(energy.select(b), backend=spec.name)
        np.testing.assert_array_equal(single.energy[0], batched.energy[b])


@pytest.mark.parametrize("spec", ALL, ids=ids)
def test_inputs_not_mutated(spec):
    energy = _energy_for(spec)
    unary, pairwise = energy.numpy()
    before = unary.copy(), pairwise.copy()
    ersm.solve(ersm.GridEnergy(unary, pairwise), backend=spec.name)
    np.testing.assert_array_equal(unary, before[0])
    np.testing.assert_array_equal(pairwise, before[1])


@pytest.mark.parametrize("spec", ALL, ids=ids)
def test_noncontiguous_and_dtypes(spec):
    energy = _energy_for(spec, height=4, width=4)
    unary, pairwise = energy.numpy()
    expected = ersm.solve(energy, backend=spec.name).energy
    # transposed twice: same values, non-contiguous memory; float32 is exact for dyadic data
    u_nc = np.asfortranarray(unary).transpose(0, 2, 1).transpose(0, 2, 1)
    for dtype in (np.float64, np.float32) if spec.quantised else (np.float64,):
        got = ersm.solve(ersm.GridEnergy(u_nc.astype(dtype), pairwise[:, :, ::1].astype(dtype)),
                         backend=spec.name)
        np.testing.assert_allclose(got.energy, expected, rtol=1e-6 if dtype == np.float32 else 0)


@pytest.mark.parametrize("spec", EXACT, ids=ids)
@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("shape", [(3, 3), (1, 7), (6, 1), (1, 1), (4, 4)])
def test_exact_backend_reaches_global_minimum(spec, connectivity, shape):
    energy = _energy_for(spec, batch=3, height=shape[0], width=shape[1],
                         connectivity=connectivity, seed=sum(shape))
    got = ersm.solve(energy, backend=spec.name).energy
    np.testing.assert_allclose(got, energy.energy(brute_force_mask(energy)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", [s for s in EXACT if s.name not in ("maxflow", "gco")], ids=ids)
@pytest.mark.parametrize("connectivity", [4, 8])
def test_canonical_mask_on_ties(spec, connectivity):
    """Own exact backends return the union of all minimisers (dyadic data, many ties)."""
    energy = random_grid_energy(4, 3, 4, connectivity, seed=11, dyadic=True, unary_scale=0.3)
    np.testing.assert_array_equal(ersm.solve(energy, backend=spec.name).mask,
                                  brute_force_mask(energy))


@pytest.mark.parametrize("spec", EXACT, ids=ids)
def test_exact_backends_agree_on_larger_maps(spec):
    if spec.max_tokens is not None and spec.max_tokens < 400:
        pytest.skip("brute force is limited to tiny maps")
    energy = random_grid_energy(2, 20, 17, 8, seed=5, dyadic=True)
    want = ersm.solve(energy, backend="reference")
    got = ersm.solve(energy, backend=spec.name)
    np.testing.assert_allclose(got.energy, want.energy, rtol=1e-12)


@pytest.mark.parametrize("spec", SUBMODULAR_ONLY, ids=ids)
def test_exception_negative_weights(spec):
    energy = _energy_for(spec)
    unary, pairwise = energy.numpy()
    pairwise[0, 0, 0, 0] = -0.5
    with pytest.raises(ValueRangeError, match="pairwise has negative weights"):
        ersm.solve(ersm.GridEnergy(unary, pairwise), backend=spec.name)


@pytest.mark.parametrize("spec", ALL, ids=ids)
def test_exception_unknown_option(spec):
    with pytest.raises(TypeError, match="does not accept option"):
        ersm.solve(_energy_for(spec), backend=spec.name, no_such_option=1)


def test_exception_unknown_backend():
    with pytest.raises(ValueError, match="backend must be one of"):
        ersm.solve(random_grid_energy(), backend="nope")


def test_exception_brute_too_large():
    with pytest.raises(ShapeError, match="at most 20 tokens"):
        ersm.solve(random_grid_energy(1, 5, 5), backend="brute")


def test_exception_not_an_energy():
    with pytest.raises(TypeError, match="energy must be a GridEnergy"):
        ersm.solve(np.zeros((2, 2)))


@pytest.mark.parametrize("spec", backends(where=lambda s: s.differentiable), ids=ids)
def test_differentiable_backend_q_carries_gradients(spec):
    energy = random_grid_energy(2, 5, 5, 4, seed=7)
    u, p = (torch.from_numpy(a).requires_grad_() for a in energy.numpy())
    result = ersm.solve(ersm.GridEnergy(u, p), backend=spec.name)
    assert result.q.requires_grad and result.q.shape == u.shape
    assert ((result.q >= 0) & (result.q <= 1)).all()
    (result.q * torch.linspace(-1, 1, 25).reshape(5, 5)).sum().backward()
    assert u.grad is not None and torch.isfinite(u.grad).all() and u.grad.abs().sum() > 0


def test_gco_large_terms_do_not_abort():
    """GCO aborts the process on a term above 1e7: the adapter must scale below it."""
    pytest.importorskip("gco")
    energy = random_grid_energy(1, 30, 30, 4, seed=2, unary_scale=1e6, pairwise_scale=1e6)
    got = ersm.solve(energy, backend="gco")
    want = ersm.solve(energy, backend="graphcut")
    np.testing.assert_allclose(got.energy, want.energy, rtol=1e-5)
