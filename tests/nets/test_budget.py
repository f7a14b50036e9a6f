"""Keep budgets: exact masks of a chosen size, top-r masks, dual ascent, the layer's budget."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest
import torch

import ersm
import ersm.nets.budget
from ersm.nets import EnergyMaskLayer
from ersm.nets.budget import budget_mask, check_keep_ratio, dual_ascent_step, top_ratio_mask
from ersm.nets.energy_mask import energy_mask


def energy(batch=3, h=3, w=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, h, w, generator=g, dtype=torch.float64),
            torch.rand(batch, 2, h, w, generator=g, dtype=torch.float64) * 0.7)


def test_doctests():
    assert doctest.testmod(ersm.nets.budget).failed == 0


def test_smoke():
    unary, pairwise = energy()
    mask, lam = budget_mask(unary, pairwise, 0.25)
    assert mask.shape == unary.shape and mask.dtype == torch.bool
    assert lam.shape == (3,) and lam.dtype == torch.float64


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_budget_mask_is_exact_cut_of_closest_size(ratio):
    unary, pairwise = energy(batch=2, h=3, w=3, seed=4)
    mask, lam = budget_mask(unary, pairwise, ratio)
    masks = torch.tensor(list(itertools.product([0, 1], repeat=9)), dtype=torch.float64)
    masks = masks.reshape(-1, 3, 3)
    for b in range(2):
        shifted = ersm.GridEnergy(unary[b] + lam[b], pairwise[b])
        best = min(float(shifted.energy(m)) for m in masks)
        assert float(shifted.energy(mask[b].double())) == pytest.approx(best, abs=1e-9)
        # no cut at any keep cost has a size closer to the target than this one
        sizes = {int(ersm.solve(ersm.GridEnergy(unary[b] + c, pairwise[b]),
                                backend="graphcut").mask.sum())
                 for c in np.linspace(-8, 8, 401)}
        gap = abs(int(mask[b].sum()) - ratio * 9)
        assert all(abs(s - ratio * 9) >= gap - 1e-9 for s in sizes)


def test_budget_mask_cardinality_zero():
    mask, lam = budget_mask(torch.zeros(0, 2, 2), torch.zeros(0, 2, 2, 2), 0.5)
    assert mask.shape == (0, 2, 2) and lam.shape == (0,)


def test_budget_mask_without_coupling_is_top_k():
    unary, _ = energy(batch=4, h=4, w=4, seed=2)
    mask, _ = budget_mask(unary, torch.zeros(4, 2, 4, 4, dtype=torch.float64), 0.25)
    assert torch.equal(mask, top_ratio_mask(-unary, 0.25))


def test_top_ratio_mask_sizes():
    scores = torch.rand(5, 6, 6)
    for ratio, k in ((0.0, 0), (0.1, 4), (0.5, 18), (1.0, 36)):
        assert (top_ratio_mask(scores, ratio).flatten(1).sum(1) == k).all()


@pytest.mark.parametrize("bad, match", [(1.5, r"in \[0, 1\]"), (-0.1, r"in \[0, 1\]")])
def test_exception(bad, match):
    with pytest.raises(ValueError, match=match):
        check_keep_ratio(bad)
    with pytest.raises(ValueError, match="keep_ratio must be in"):
        EnergyMaskLayer(4, keep_ratio=bad)
    with pytest.raises(TypeError, match="keep_ratio must be a number"):
        EnergyMaskLayer(4, keep_ratio="half")


def test_dual_ascent_direction():
    rho = torch.tensor(0.0)
    dual_ascent_step(rho, torch.full((2, 3, 3), 0.8), 0.2, 1.0)
    assert float(rho) == pytest.approx(0.6)
    dual_ascent_step(rho, torch.zeros(2, 3, 3), 0.2, 1.0)
    assert float(rho) == pytest.approx(0.4)


def test_keep_cost_shifts_unaries():
    x = torch.rand(2, 3, 4, 4)
    w, b = torch.randn(3), torch.tensor(-1.0)
    base = energy_mask(x, w, b, backend="graphcut")
    shifted = energy_mask(x, w, b, backend="graphcut", keep_cost=0.75)
    torch.testing.assert_close(shifted.unary, base.unary + 0.75)


def test_layer_drives_mean_gate_to_ratio():
    torch.manual_seed(0)
    layer = EnergyMaskLayer(4, keep_ratio=0.2, pairwise_weight=0.2)
    x = torch.rand(8, 4, 6, 6)
    for _ in range(200):
        layer(x)
    assert float(layer.gate.detach().mean()) == pytest.approx(0.2, abs=0.02)
    assert float(layer.keep_cost) > 0
    assert "keep_cost" in layer.state_dict()


def test_layer_eval_exact_backend_gives_budget_masks():
    layer = EnergyMaskLayer(4, backend="graphcut", keep_ratio=0.25, pairwise_weight=0.0).eval()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, -2.0, 0.5, 3.0]))
    layer(torch.rand(3, 4, 4, 4, generator=torch.Generator().manual_seed(1)))
    assert (layer.mask.flatten(1).sum(1) == 4).all()  # no coupling: sizes 0..16 all reachable
    assert layer.last.budget_cost is not None
    layer.backend = "meanfield"  # relaxed backend in eval: the gate at the trained keep cost
    layer(torch.rand(3, 4, 4, 4))
    assert layer.last.budget_cost is None
    before = float(layer.keep_cost)
    layer(torch.rand(3, 4, 4, 4))
    assert float(layer.keep_cost) == before  # no dual step outside training


def test_state_dict_round_trip_and_old_checkpoints():
    layer = EnergyMaskLayer(4, keep_ratio=0.3)
    layer(torch.rand(2, 4, 3, 3))
    other = EnergyMaskLayer(4, keep_ratio=0.3)
    other.load_state_dict(layer.state_dict())
    assert float(other.keep_cost) == float(layer.keep_cost) != 0
    old = {k: v for k, v in layer.state_dict().items() if k != "keep_cost"}
    fresh = EnergyMaskLayer(4, keep_cost=0.5)
    fresh.load_state_dict(old)
    assert float(fresh.keep_cost) == 0.5


def test_budget_loss_keeps_keep_cost_and_penalises_the_gate():
    torch.manual_seed(0)
    layer = EnergyMaskLayer(4, keep_ratio=0.2, budget="loss", budget_weight=3.0,
                            keep_cost=0.25)
    x = torch.rand(4, 4, 5, 5)
    layer(x)
    gate = layer.gate
    expected = layer.reg_weight * layer.last.regularizer() + 3.0 * (gate.mean() - 0.2) ** 2
    torch.testing.assert_close(layer.regularizer(), expected)
    assert float(layer.keep_cost) == 0.25  # no dual step with the loss
    layer.eval()
    layer(x)
    torch.testing.assert_close(layer.regularizer(), layer.reg_weight * layer.last.regularizer())


def test_budget_loss_drives_the_gate_towards_the_ratio():
    torch.manual_seed(0)
    layer = EnergyMaskLayer(4, keep_ratio=0.2, budget="loss", budget_weight=2.0,
                            pairwise_weight=0.2)
    optimiser = torch.optim.SGD(layer.parameters(), lr=2.0)
    x = torch.rand(8, 4, 6, 6)
    layer(x)
    start = float(layer.gate.mean())
    for _ in range(100):
        optimiser.zero_grad()
        layer(x)
        layer.regularizer().backward()
        optimiser.step()
    assert abs(float(layer.gate.mean()) - 0.2) < 0.5 * abs(start - 0.2)


def test_budget_options_round_trip_and_bad_values():
    layer = EnergyMaskLayer(4, keep_ratio=0.3, budget="loss", budget_weight=5.0)
    other = EnergyMaskLayer(4)
    other.load_state_dict(layer.state_dict())
    assert (other.budget, other.budget_weight) == ("loss", 5.0)
    with pytest.raises(ValueError, match="budget must be one of"):
        EnergyMaskLayer(4, budget="penalty")
    with pytest.raises(ValueError, match="budget_weight must be finite and > 0"):
        EnergyMaskLayer(4, budget_weight=0.0)


def test_budget_warmup_falls_linearly_and_resumes():
    layer = EnergyMaskLayer(4, keep_ratio=0.2, budget_warmup=4)
    targets = []
    for _ in range(6):
        targets.append(layer.training_target())
        layer(torch.rand(2, 4, 3, 3))
    assert targets == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.2])
    layer.eval()
    layer(torch.rand(2, 4, 3, 3))
    assert int(layer.budget_step) == 6  # evaluation passes do not count
    other = EnergyMaskLayer(4, keep_ratio=0.2, budget_warmup=4)
    other.load_state_dict(layer.state_dict())
    assert int(other.budget_step) == 6 and other.training_target() == pytest.approx(0.2)
    old = {k: v for k, v in layer.state_dict().items() if k != "budget_step"}
    EnergyMaskLayer(4, keep_ratio=0.2).load_state_dict(old)  # checkpoints from before load
    with pytest.raises(ValueError, match="budget_warmup"):
        EnergyMaskLayer(4, budget_warmup=-1)
    with pytest.raises(ValueError, match="needs a keep_ratio"):
        EnergyMaskLayer(4).training_target()
