"""``ste``/``perturbed`` cut with the kernel directly: one validation, one energy evaluation."""

import numpy as np
import pytest
import torch

import ersm
from ersm.testing import random_grid_energy
from ersm.energy import grid
from ersm.solvers import api
from ersm.solvers.backends import _native


@pytest.mark.parametrize("backend", ["ste", "perturbed"])
def test_one_validation_and_one_energy_evaluation(backend, monkeypatch):
    calls = {"check": 0, "energy": 0, "solve": 0}
    check, energy, solve = grid.check_energy_arrays, grid.GridEnergy.energy, api.solve

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(grid, "check_energy_arrays", counting("check", check))
    monkeypatch.setattr(grid.GridEnergy, "energy", counting("energy", energy))
    monkeypatch.setattr(api, "solve", counting("solve", solve))
    unary = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)
    pairwise = torch.rand(2, 2, 4, 5, dtype=torch.float64)
    result = api.solve(ersm.GridEnergy(unary, pairwise), backend=backend)
    result.q.sum().backward()
    assert calls == {"check": 1, "energy": 1, "solve": 1}


def test_host_float64_is_a_zero_copy_view_for_cpu_float64():
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    assert np.shares_memory(_native.host_float64(x), x.numpy())
    y = _native.host_float64(x.to(torch.float32))
    assert y.dtype == np.float64 and y.flags.c_contiguous


def test_exact_masks_match_graphcut():
    e = random_grid_energy(batch=3, height=4, width=5, connectivity=8, seed=3)
    u, w = (torch.from_numpy(a) for a in e.numpy())
    got = _native.exact_masks(u.to(torch.float32), w.to(torch.float32))
    assert got.dtype == torch.bool
    np.testing.assert_array_equal(got.numpy(), ersm.solve(ersm.GridEnergy(*e.numpy())).mask)
