"""GridEnergy: construction, validation messages, discrete and relaxed energies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ersm import GridEnergy
from ersm.errors import DTypeError, ShapeError, ValueRangeError
from ersm.energy import constant_weights
from ersm.testing import random_grid_energy


def _loop_energy(unary, pairwise, mask):
    """Independent per-edge loop over the documented layout."""
    offs = [(0, 1), (1, 0), (1, 1), (1, -1)]
    total = float((unary * mask).sum())
    k_n, h, w = pairwise.shape
    for k in range(k_n):
        dy, dx = offs[k]
        for y in range(h):
            for x in range(w):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and mask[y, x] != mask[yy, xx]:
                    total += pairwise[k, y, x]
    return total


@pytest.mark.parametrize("connectivity", [4, 8])
def test_energy_matches_edge_loop(connectivity):
    rng = np.random.default_rng(0)
    unary = rng.normal(size=(3, 4, 5))
    pairwise = rng.random((3, connectivity // 2, 4, 5))  # off-grid garbage must be ignored
    energy = GridEnergy(unary, pairwise)
    mask = rng.random((3, 4, 5)) > 0.5
    want = [_loop_energy(unary[b], pairwise[b], mask[b]) for b in range(3)]
    np.testing.assert_allclose(energy.energy(mask), want, rtol=1e-12)
    assert energy.connectivity == connectivity



@pytest.mark.parametrize("connectivity", [4, 8])
def test_energy_of_strided_views_and_number_masks(connectivity):
    """The compiled NumPy sum reads any strides and 0/1 masks of any dtype alike, and
    agrees with torch's sum."""
    rng = np.random.default_rng(3)
    k = connectivity // 2
    unary = rng.normal(size=(3, 12, 14))[:, ::2, 1::2]  # (3, 6, 7), not contiguous
    pairwise = rng.random((3, k, 7, 6)).transpose(0, 1, 3, 2)  # (3, k, 6, 7), transposed
    energy = GridEnergy(unary, pairwise, connectivity)
    mask = rng.random((3, 6, 7)) > 0.5
    want = [_loop_energy(unary[b], pairwise[b], mask[b]) for b in range(3)]
    for m in (mask, mask.astype(np.int8), mask.astype(np.float32), mask[:, ::-1][:, ::-1]):
        np.testing.assert_allclose(energy.energy(m), want, rtol=1e-12)
    torch_energy = GridEnergy(torch.from_numpy(unary.copy()), torch.from_numpy(pairwise.copy()))
    np.testing.assert_allclose(torch_energy.energy(torch.from_numpy(mask)).numpy(), want,
                               rtol=1e-12)

def test_unbatched_gives_unbatched_results():
    energy = GridEnergy(np.array([[-1.0, 2.0]]), constant_weights(1, 2))
    assert energy.mask_shape == (1, 2) and not energy.batched
    assert energy.energy(np.array([[True, False]])).shape == ()
    assert float(energy.energy(np.array([[True, False]]))) == 0.0


def test_two_sided_constant_keeps_energy_exact():
    rng = np.random.default_rng(1)
    u0, u1 = rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 3))
    pairwise = rng.random((2, 2, 3, 3))
    energy = GridEnergy.from_two_sided(u0, u1, pairwise)
    mask = rng.random((2, 3, 3)) > 0.5
    direct = (np.where(mask, u1, u0)).sum((1, 2)) + GridEnergy(u1 * 0, pairwise).energy(mask)
    np.testing.assert_allclose(energy.energy(mask), direct, rtol=1e-12)


@pytest.mark.parametrize("kind", ["multilinear", "tv"])
def test_relaxed_equals_discrete_on_integral(kind):
    energy = random_grid_energy(3, 4, 5, 8, seed=2)
    mask = np.random.default_rng(2).random((3, 4, 5)) > 0.5
    np.testing.assert_allclose(energy.relaxed(mask.astype(float), kind), energy.energy(mask))


def test_relaxed_multilinear_is_expectation():
    energy = random_grid_energy(1, 2, 2, 8, seed=3)
    q = np.array([[[0.2, 0.7], [0.4, 0.9]]])
    from ersm.solvers.backends.brute import all_masks

    masks = all_masks(4).reshape(16, 2, 2)
    prob = np.prod(np.where(masks, q.reshape(1, 2, 2), 1 - q.reshape(1, 2, 2)), axis=(1, 2))
    energies = [float(energy.energy(m[None])[0]) for m in masks]
    np.testing.assert_allclose(energy.relaxed(q)[0], np.dot(prob, energies), rtol=1e-12)


def test_relaxed_torch_is_differentiable():
    energy = random_grid_energy(2, 3, 3, 4, seed=4)
    u, p = (torch.from_numpy(a) for a in energy.numpy())
    q = torch.rand(2, 3, 3, dtype=torch.float64, requires_grad=True)
    et = GridEnergy(u, p)
    assert torch.autograd.gradcheck(lambda x: et.relaxed(x, "multilinear"), (q,))
    np.testing.assert_allclose(et.relaxed(q).detach().numpy(), energy.relaxed(q.detach().numpy()))


def test_torch_energy_stays_on_device_and_float64():
    u, p = torch.randn(2, 3, 3, dtype=torch.float32), torch.rand(2, 2, 3, 3)
    values = GridEnergy(u, p).energy(torch.ones(2, 3, 3, dtype=torch.bool))
    assert values.dtype == torch.float64 and values.device == u.device


def test_select_keeps_constant():
    energy = GridEnergy(np.zeros((3, 2, 2)), np.zeros((3, 2, 2, 2)), constant=np.array([1.0, 2, 3]))
    sub = energy.select(1)
    assert sub.batch_size == 1 and float(sub.energy(np.zeros((1, 2, 2)))[0]) == 2.0


@pytest.mark.parametrize(
    ("unary", "pairwise", "error", "match"),
    [
        (np.zeros(3), np.zeros((2, 3)), ShapeError, r"unary must have shape \(B, H, W\) or \(H, W\), got \(3,\)"),
        (np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), ShapeError, r"pairwise must have shape \(B, K, H, W\)"),
        (np.zeros((2, 3, 3)), np.zeros((1, 2, 3, 3)), ShapeError, r"\(2, 2, 3, 3\)"),
        (np.zeros((1, 3, 3)), np.zeros((1, 3, 3, 3)), ShapeError, "K = 2 .* or 4"),
        (np.zeros((1, 0, 3)), np.zeros((1, 2, 0, 3)), ShapeError, "non-empty grid"),
        (np.full((1, 2, 2), np.nan), np.zeros((1, 2, 2, 2)), ValueRangeError, "unary contains NaN or inf"),
        (np.zeros((1, 2, 2)), np.full((1, 2, 2, 2), np.inf), ValueRangeError, "pairwise contains NaN"),
        (np.zeros((1, 2, 2), bool), np.zeros((1, 2, 2, 2)), DTypeError, "unary must have a real"),
        (np.zeros((1, 2, 2), complex), np.zeros((1, 2, 2, 2)), DTypeError, "unary must have a real"),
        ("abc", np.zeros((1, 2, 2, 2)), DTypeError, "unary must be a numpy array or torch tensor"),
        (np.zeros((1, 2, 2)), torch.zeros(1, 2, 2, 2), DTypeError, "must both be numpy arrays or both torch"),
    ],
)
def test_exception_messages(unary, pairwise, error, match):
    with pytest.raises(error, match=match):
        GridEnergy(unary, pairwise)


def test_exception_connectivity_mismatch():
    with pytest.raises(ShapeError, match="connectivity=8"):
        GridEnergy(np.zeros((1, 2, 2)), np.zeros((1, 2, 2, 2)), connectivity=8)
    with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
        GridEnergy(np.zeros((1, 2, 2)), np.zeros((1, 2, 2, 2)), connectivity=6)


def test_exception_mask_shape():
    energy = random_grid_energy(2, 3, 3)
    with pytest.raises(ShapeError, match=r"mask must have shape \(2, 3, 3\), got \(3, 3\)"):
        energy.energy(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="kind must be one of"):
        energy.relaxed(np.zeros((2, 3, 3)), kind="l2")


def test_negative_weights_allowed_in_model_but_refused_by_exact_solver():
    import ersm

    energy = GridEnergy(np.zeros((1, 2, 2)), -np.ones((1, 2, 2, 2)))
    assert np.isfinite(energy.energy(np.zeros((1, 2, 2)))).all()
    with pytest.raises(ValueRangeError, match="not submodular"):
        ersm.solve(energy)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_finite_torch_fast_path_still_exact(bad):
    """Finite values whose sum overflows pass; one NaN or inf anywhere fails."""
    from ersm.core.checks import check_finite

    check_finite(torch.full((4, 3), 3e38), "x")  # the float32 sum is inf: falls back
    x = torch.zeros(4, 3)
    x[2, 1] = bad
    with pytest.raises(ValueRangeError, match="x contains NaN or inf"):
        check_finite(x, "x")
    with pytest.raises(ValueRangeError):
        check_finite(torch.tensor([np.inf, -np.inf]), "x")
