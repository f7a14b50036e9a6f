"""FLOP counts, timing and the energy landscape on hand-computed cases."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ersm.energy.grid import GridEnergy
from ersm.evaluation.cost import count_flops, layer_cost, median_seconds
from ersm.evaluation.landscape import neighbourhood, sweep
from ersm.nets import ERSMLayer, MaskedClassifier
from ersm.solvers.api import solve
from eval_helpers import Features, evidence_batch, evidence_model


def test_count_flops_of_a_linear_layer():
    assert count_flops(nn.Linear(3, 2), torch.zeros(5, 3)) == 2 * 5 * 3 * 2


def test_layer_cost_extra_flops_are_the_projection():
    """ERSM layer: the only counted op is the unary projection z = wᵀ p̂ (2·C·h·w per image)."""
    model = MaskedClassifier(Features(2), ERSMLayer(2), 2).eval()
    x, _ = evidence_batch(4)
    cost = layer_cost(model, x, repeats=1)
    assert cost["flops.without_layer"] == 2 * 2 * 2  # the head: 2 outputs × 2 inputs
    assert cost["flops.extra"] == 2 * 2 * 16
    assert cost["flops.extra_fraction"] == 8.0
    assert cost["time_ms.model"] > 0 and cost["time_ms.solve"] > 0


def test_layer_cost_without_layer_is_null():
    cost = layer_cost(evidence_model(layer=False), evidence_batch()[0], repeats=1)
    assert cost["flops.extra"] is None and cost["time_ms.solve"] is None
    assert cost["flops.model"] == cost["flops.without_layer"]


def test_median_seconds_is_positive():
    assert median_seconds(lambda: sum(range(100)), repeats=3) > 0


def one_map(seed: int = 0) -> GridEnergy:
    rng = np.random.default_rng(seed)
    return GridEnergy(torch.from_numpy(rng.normal(size=(1, 5, 5))),
                      torch.from_numpy(rng.uniform(0, 0.6, size=(1, 2, 5, 5))))


def test_solved_mask_is_lowest_in_its_neighbourhood():
    energy = one_map()
    mask = solve(energy).mask[0]
    near = neighbourhood(energy, mask, samples=50, flips=(1, 3))
    assert near["size"] == int(mask.sum())
    assert near["optimum"] == float(solve(energy).energy[0])
    assert near["random"].shape == (50,) and sorted(near["flips"]) == [1, 3]
    for values in [near["random"], *near["flips"].values()]:
        assert (values >= near["optimum"] - 1e-9).all()
    assert (near["flips"][1] > near["optimum"] - 1e-9).all()


def test_sweep_without_pairwise_scales_linearly():
    energy = GridEnergy(one_map().unary, torch.zeros(1, 2, 5, 5))
    floor = float(energy.unary.clamp(max=0).sum())
    out = sweep(energy, factors=(0.5, 1.0, 2.0), term="unary")
    np.testing.assert_allclose(out["energy"], [0.5 * floor, floor, 2 * floor])
    assert np.all(out["size"] == float((energy.unary < 0).double().mean()))
    strong = sweep(one_map(), factors=(1e-3, 1e3), term="pairwise")
    assert strong["size"][1] in (0.0, 1.0)  # a very strong pairwise term gives a constant mask
