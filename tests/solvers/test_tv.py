"""``tv``: exact mask, scale-invariant steps, learnable defaults (issue 14, item 3)."""

import numpy as np
import pytest
import torch

import ersm
from ersm.solvers.backends.tv import tv_relaxation
from ersm.solvers.differentiable.inverse import fit_unaries
from ersm.testing import random_grid_energy


def test_plateau_case_is_exact():
    energy = ersm.GridEnergy(np.array([[0.0, 1.0, -1.0]]), np.array([[[1.0, 2.0, 0.0]], [[0, 0, 0]]]))
    assert float(ersm.solve(energy, backend="tv").energy) == 0.0


@pytest.mark.parametrize("scale", [1.0, 1e3, 1e-3])
def test_mask_exact_at_any_scale(scale):
    energy = random_grid_energy(8, 6, 6, seed=3, pairwise_scale=1.0)
    u, p = energy.numpy()
    scaled = ersm.GridEnergy(np.round(u * 8) / 8 * scale, np.round(p * 8) / 8 * scale)
    np.testing.assert_array_equal(ersm.solve(scaled, backend="tv").mask, ersm.solve(scaled).mask)


def test_relaxation_steps_are_scale_invariant():
    u, p = (torch.from_numpy(a) for a in random_grid_energy(2, 5, 5, seed=4).numpy())
    q1, _ = tv_relaxation(u, p, iters=50, smoothing=0.2)
    q2, _ = tv_relaxation(u * 1e3, p * 1e3, iters=50, smoothing=0.2 * 1e3)
    torch.testing.assert_close(q1, q2)


def _ring(n=24):
    y, x = np.mgrid[:n, :n]
    r = np.hypot(y - (n - 1) / 2, x - (n - 1) / 2)
    return torch.from_numpy((r >= 5) & (r <= 9))[None]


def _l_shape(n=24):
    t = np.zeros((n, n), bool)
    t[4:20, 4:9] = True
    t[15:20, 4:20] = True
    return torch.from_numpy(t)[None]


@pytest.mark.parametrize("target", [_ring(), _l_shape()], ids=["ring", "L"])
def test_defaults_learn_shapes_from_zero_unaries(target):
    pairwise = torch.from_numpy(ersm.constant_weights(24, 24, 0.3, batch_size=1))
    fit = fit_unaries(target, pairwise, "tv", lr=0.1, budget=300, iou=0.9)
    assert fit.iou >= 0.9 and fit.steps is not None  # IoU of the exact cut
