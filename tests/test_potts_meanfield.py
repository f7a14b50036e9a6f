"""Multi-label mean-field for ``PottsEnergy`` (``backend="meanfield"``, issue 16)."""

from __future__ import annotations

import numpy as np
import pytest

import ersm
from ersm.testing import random_grid_energy

torch = pytest.importorskip("torch")


def random_potts(batch=2, labels=3, height=4, width=5, connectivity=4, seed=0):
    rng = np.random.default_rng(seed)
    k = 2 if connectivity == 4 else 4
    return ersm.PottsEnergy(rng.normal(0, 1, (batch, labels, height, width)),
                            rng.uniform(0, 1, (batch, k, height, width)), connectivity)


def as_torch(energy, dtype=torch.float64, requires_grad=False):
    unary = torch.tensor(energy.unary, dtype=dtype, requires_grad=requires_grad)
    pairwise = torch.tensor(energy.pairwise, dtype=dtype, requires_grad=requires_grad)
    return ersm.PottsEnergy(unary, pairwise), unary, pairwise


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("schedule", ["checkerboard", "parallel"])
def test_two_labels_are_the_binary_meanfield(connectivity, schedule):
    grid = random_grid_energy(2, 5, 6, connectivity, seed=3, pairwise_scale=1.0)
    binary = ersm.solve(grid, backend="meanfield", schedule=schedule, tol=0, iters=15)
    potts = ersm.solve(ersm.PottsEnergy.from_grid(grid), backend="meanfield",
                       schedule=schedule, tol=0, iters=15)
    np.testing.assert_allclose(potts.q[:, 1], binary.q, atol=1e-12)
    np.testing.assert_allclose(potts.free_energy, binary.free_energy, atol=1e-10)
    np.testing.assert_array_equal(potts.labels, binary.mask.astype(np.int64))


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("schedule", ["checkerboard", "parallel"])
def test_numba_and_torch_agree(connectivity, schedule):
    energy = random_potts(2, 4, 5, 6, connectivity, seed=1)
    numba = ersm.solve(energy, backend="meanfield", schedule=schedule, damping=0.7, iters=30)
    tensor, _, _ = as_torch(energy)
    torch_q = ersm.solve(tensor, backend="meanfield", schedule=schedule, damping=0.7, iters=30)
    assert numba.impl == "numba" and torch_q.impl == "torch"
    np.testing.assert_allclose(torch_q.q.numpy(), numba.q, atol=1e-12)
    assert numba.iterations == torch_q.iterations


def test_output_contract_and_unbatched():
    energy = random_potts(2, 3, 4, 4, seed=2)
    result = ersm.solve(energy, backend="meanfield")
    assert isinstance(result, ersm.PottsResult) and result.backend == "meanfield"
    assert result.q.shape == (2, 3, 4, 4) and result.labels.dtype == np.int64
    np.testing.assert_allclose(result.q.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(result.labels, result.q.argmax(axis=1))
    np.testing.assert_array_equal(result.energy, energy.energy(result.labels))
    single = ersm.solve(ersm.PottsEnergy(energy.unary[0], energy.pairwise[0]), backend="meanfield")
    assert single.q.shape == (3, 4, 4) and single.labels.shape == (4, 4)
    np.testing.assert_allclose(single.q, result.q[0], atol=1e-12)


def test_checkerboard_lowers_the_free_energy():
    energy = random_potts(2, 4, 6, 6, seed=4)
    values = [ersm.solve(energy, backend="meanfield", iters=n, tol=0).free_energy
              for n in (1, 2, 4, 8)]
    assert all((b <= a + 1e-12).all() for a, b in zip(values, values[1:]))


def test_torch_in_torch_out_and_float32():
    energy = random_potts(2, 3, 4, 4, seed=5)
    tensor, _, _ = as_torch(energy, torch.float32)
    result = ersm.solve(tensor, backend="meanfield")
    assert result.q.dtype == torch.float32 and result.labels.dtype == torch.int64
    assert isinstance(result.energy, torch.Tensor)


def test_gradients_flow_and_gradcheck():
    energy = random_potts(1, 3, 3, 3, seed=6)
    tensor, unary, pairwise = as_torch(energy, requires_grad=True)
    result = ersm.solve(tensor, backend="meanfield", iters=5, tol=0)
    result.free_energy.sum().backward()
    assert unary.grad is not None and pairwise.grad is not None

    def q_of(u, p):
        return ersm.solve(ersm.PottsEnergy(u, p), backend="meanfield", iters=3, tol=0,
                          schedule="parallel").q

    u = torch.tensor(energy.unary, requires_grad=True)
    p = torch.tensor(energy.pairwise, requires_grad=True)
    assert torch.autograd.gradcheck(q_of, (u, p))


def test_numba_on_torch_without_grad():
    energy = random_potts(2, 3, 4, 4, seed=7)
    tensor, _, _ = as_torch(energy)
    result = ersm.solve(tensor, backend="meanfield", impl="numba")
    np.testing.assert_allclose(result.q.numpy(), ersm.solve(energy, backend="meanfield").q)


def test_init_and_exceptions():
    energy = random_potts(1, 3, 3, 3, seed=8)
    start = np.zeros((3, 3, 3))
    start[2] = 1.0
    result = ersm.solve(energy, backend="meanfield", init=start, iters=1, damping=1e-9)
    np.testing.assert_allclose(result.q[0], start, atol=1e-8)
    with pytest.raises(ValueError, match="init must have shape"):
        ersm.solve(energy, backend="meanfield", init=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"init must hold marginals in \[0, 1\]"):
        ersm.solve(energy, backend="meanfield", init=start * 2)
    with pytest.raises(ValueError, match="temperature must be finite"):
        ersm.solve(energy, backend="meanfield", temperature=0)
    with pytest.raises(ValueError, match="impl must be one of"):
        ersm.solve(energy, backend="meanfield", impl="cupy")


def test_expansion_from_meanfield_labels_is_never_worse():
    """Mean-field is approximate: expansion started from its rounded labels only
    lowers the energy (the init option takes labels)."""
    energy = random_potts(3, 4, 8, 8, seed=9)
    mf = ersm.solve(energy, backend="meanfield")
    refined = ersm.solve(energy, init=mf.labels)
    assert (refined.energy <= mf.energy + 1e-12).all()
