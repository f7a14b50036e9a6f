"""ERSMLayer: the paper's formulas on hand-computed inputs, module == functional, gradients."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

import ersm
import ersm.nets.ersm_layer
from ersm.errors import ShapeError
from ersm.nets import SmallCNN
from ersm.nets.ersm_layer import ERSMLayer, ersm_mask

R2 = math.sqrt(2.0)
# Tokens of a 2×3 grid (C = 2) and, by hand, the sums of dot products of the normalised
# tokens with their (up to 8) in-grid neighbours; the grid has no token outside (zero padding).
TOKENS = [[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
          [[2.0, 0.0], [0.0, -3.0], [3.0, 4.0]]]
NEIGHBOUR_SUMS = [[1.0, 1 / R2 - 0.2, 1.4 / R2],
                  [1.0, -1.8 - 1 / R2, 1.4 / R2]]
W, B, T, LAM, GAMMA = (0.5, -1.0), 0.2, 0.5, 0.1, 0.2



def token_features() -> torch.Tensor:
    """``(1, 2, 2, 3)`` features holding :data:`TOKENS`."""
    return torch.tensor(TOKENS, dtype=torch.float64).permute(2, 0, 1)[None]


def expected_terms() -> dict[str, torch.Tensor]:
    """z, keep, E_u, E_p on the 2×3 grid from the paper's formulas, by hand."""
    tokens = token_features()[0]
    unit = tokens / tokens.norm(dim=0)
    z = W[0] * unit[0] + W[1] * unit[1] + B
    s = torch.tensor(NEIGHBOUR_SUMS, dtype=torch.float64)
    e_u = LAM * torch.log1p(torch.exp(z))
    e_p = GAMMA * torch.log1p(torch.exp(s))
    return {"z": z, "keep": 1 / (1 + torch.exp(z / T)), "e_u": e_u, "e_p": e_p}


def paper_layer(patch_size: int = 1) -> ERSMLayer:
    layer = ERSMLayer(2, patch_size=patch_size, temperature=T, unary_weight=LAM,
                      pairwise_weight=GAMMA).double()
    with torch.no_grad():
        layer.proj.weight.copy_(torch.tensor([W], dtype=torch.float64))
        layer.proj.bias.fill_(B)
    return layer


def test_doctests():
    assert doctest.testmod(ersm.nets.ersm_layer).failed == 0


def test_defaults():
    layer = ERSMLayer(4)
    assert (layer.unary_weight, layer.pairwise_weight, layer.temperature, layer.patch_size) == (
        1e-3, 1e-3, 1.0, 1)


def test_matches_hand_computed_formulas_with_borders():
    layer, x = paper_layer(), token_features()
    out = layer(x)
    want = expected_terms()
    torch.testing.assert_close(layer.unary[0], want["z"])
    torch.testing.assert_close(layer.keep_prob[0], want["keep"])
    torch.testing.assert_close(layer.last.unary_energy[0], want["e_u"])
    torch.testing.assert_close(layer.last.pairwise_energy[0], want["e_p"])
    torch.testing.assert_close(layer.energy[0], want["e_u"] + want["e_p"])
    torch.testing.assert_close(layer.regularizer(),
                               (want["keep"] * (want["e_u"] + want["e_p"])).mean())
    torch.testing.assert_close(out, x * want["keep"])


def test_patch_size_two_pools_then_repeats():
    tokens = token_features()
    wiggle = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64).repeat(2, 3) * 0.05
    x = tokens.repeat_interleave(2, -2).repeat_interleave(2, -1) + wiggle  # patch means = tokens
    layer = paper_layer(patch_size=2)
    out = layer(x)
    want = expected_terms()
    assert layer.keep_prob.shape == (1, 2, 3)
    torch.testing.assert_close(layer.keep_prob[0], want["keep"])
    torch.testing.assert_close(layer.last.pairwise_energy[0], want["e_p"])
    keep = want["keep"].repeat_interleave(2, 0).repeat_interleave(2, 1)
    torch.testing.assert_close(out, x * keep)


def test_pairwise_term_never_depends_on_the_mask_weights():
    """E_p is a function of the features alone: changing w, b leaves it unchanged."""
    x = token_features()
    a = ersm_mask(x, torch.tensor(W, dtype=torch.float64), torch.tensor(B, dtype=torch.float64))
    b = ersm_mask(x, torch.tensor((-2.0, 3.0), dtype=torch.float64),
                  torch.tensor(-1.0, dtype=torch.float64))
    torch.testing.assert_close(a.pairwise_energy, b.pairwise_energy)


def test_module():
    layer = ERSMLayer(6, patch_size=2, temperature=0.7)
    x = torch.rand(2, 6, 5, 5)
    expected = ersm_mask(x, layer.proj.weight[0], layer.proj.bias[0], 2, 0.7)
    torch.testing.assert_close(layer(x), expected.features)
    torch.testing.assert_close(layer.regularizer(), expected.regularizer())


def test_exception_and_cardinality():
    with pytest.raises(ShapeError, match=r"\(B, 4, H, W\)"):
        ERSMLayer(4)(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match="temperature"):
        ERSMLayer(4, temperature=0.0)
    assert ERSMLayer(4)(torch.zeros(0, 4, 3, 3)).shape == (0, 4, 3, 3)


def test_zero_features_are_finite():
    layer = ERSMLayer(3)
    out = layer(torch.zeros(1, 3, 2, 2))
    assert torch.isfinite(out).all() and torch.isfinite(layer.energy).all()


def test_gradients_reach_backbone_and_layer():
    torch.manual_seed(0)
    backbone, layer = SmallCNN(width=4, out_channels=8), ERSMLayer(8)
    out = layer(backbone(torch.rand(2, 3, 16, 16)))
    (out.square().mean() + layer.regularizer()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters())


def test_gradcheck():
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)

    def fn(x, w, b):
        out = ersm_mask(x, w, b, patch_size=2, unary_weight=0.5, pairwise_weight=0.5)
        return out.features, out.regularizer()

    assert torch.autograd.gradcheck(fn, (x, w, b))


def test_grid_energy_without_pairwise_gives_the_keep_decisions():
    layer = ERSMLayer(4, temperature=2.0)
    layer(torch.rand(2, 4, 5, 5))
    energy = layer.grid_energy(pairwise_weight=0.0)
    assert energy.connectivity == 8
    torch.testing.assert_close(energy.unary, layer.unary.detach() / 2.0)
    mask = ersm.solve(energy, backend="graphcut").mask
    assert torch.equal(mask, layer.keep_prob > 0.5)
    weights = layer.grid_energy(pairwise_weight=0.3).pairwise
    torch.testing.assert_close(weights, ersm.cosine_weights(layer.last.tokens, 0.3, 8))
    torch.testing.assert_close(layer.last.tokens.norm(dim=1), torch.ones(2, 5, 5))
