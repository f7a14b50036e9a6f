"""ERSMLayer: the paper's released layer on hand-computed inputs, module == functional, state."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as F

import ersm
import ersm.nets.ersm_layer
from ersm.errors import ShapeError
from ersm.nets import MaskedClassifier, SmallCNN
from ersm.nets.classifier import classify_features
from ersm.nets.ersm_layer import (ERSMLayer, ersm_mask, flatten_patches, neighbour_similarity,
                                  normalise_patches)

R2 = math.sqrt(2.0)
EPS = 1e-6
# Tokens of a 2×3 grid (C = 2) and, by hand, the sums of dot products of the normalised
# tokens with their (up to 8) in-grid neighbours; the grid has no token outside (zero padding).
TOKENS = [[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
          [[2.0, 0.0], [0.0, -3.0], [3.0, 4.0]]]
NEIGHBOUR_SUMS = [[1.0, 1 / R2 - 0.2, 1.4 / R2],
                  [1.0, -1.8 - 1 / R2, 1.4 / R2]]
NORMS = [[1.0, 1.0, R2], [2.0, 3.0, 5.0]]
W, B, T, LAM, GAMMA = (0.5, -1.0), 0.2, 0.5, 0.1, 0.2


class Identity(torch.nn.Module):
    out_channels = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def token_features() -> torch.Tensor:
    """``(1, 2, 2, 3)`` features holding :data:`TOKENS`."""
    return torch.tensor(TOKENS, dtype=torch.float64).permute(2, 0, 1)[None]


def expected_terms() -> dict[str, torch.Tensor]:
    """z, keep, E_u, E_p on the 2×3 grid from the paper's formulas, by hand."""
    tokens = token_features()[0]
    unit = tokens / (torch.tensor(NORMS, dtype=torch.float64) + EPS)
    z = W[0] * unit[0] + W[1] * unit[1] + B
    # the neighbour sums of p / (‖p‖ + eps): each product is scaled by both ‖·‖/(‖·‖ + eps)
    s = neighbour_similarity(unit[None])[0]
    torch.testing.assert_close(s, torch.tensor(NEIGHBOUR_SUMS, dtype=torch.float64),
                               rtol=0, atol=1e-5)
    e_u = LAM * torch.log1p(torch.exp(z))
    e_p = GAMMA * torch.log1p(torch.exp(s))
    return {"z": z, "keep": 1 / (1 + torch.exp(z / T)), "e_u": e_u, "e_p": e_p}


def paper_layer(patch_size: int = 1, channels: int = 2, weight=W) -> ERSMLayer:
    layer = ERSMLayer(channels, patch_size=patch_size, temperature=T, unary_weight=LAM,
                      pairwise_weight=GAMMA, num_tokens=6).double()
    with torch.no_grad():
        layer.proj.weight.copy_(torch.tensor([weight], dtype=torch.float64))
        layer.token_bias.fill_(B)
    return layer


def test_doctests():
    assert doctest.testmod(ersm.nets.ersm_layer).failed == 0


def test_defaults():
    layer = ERSMLayer(4)
    assert (layer.unary_weight, layer.pairwise_weight, layer.temperature, layer.patch_size) == (
        1e-3, 1e-3, 1.0, 1)
    assert layer.proj.bias is None and layer.token_bias is None and not layer.train_token_bias


# ---------------------------------------------------------------- (a) flattened patches


def test_flatten_patches_is_unfolds_layout_by_hand():
    x = torch.arange(2 * 2 * 4, dtype=torch.float64).reshape(1, 2, 2, 4)  # C=2, 2×4, p=2
    patches = flatten_patches(x, 2)
    assert patches.shape == (1, 8, 1, 2)
    # token (0, 1): channel 0 cells (0,2) (0,3) (1,2) (1,3), then channel 1's
    assert patches[0, :, 0, 1].tolist() == [2.0, 3.0, 6.0, 7.0, 10.0, 11.0, 14.0, 15.0]
    y = torch.randn(3, 5, 6, 4, dtype=torch.float64)
    unfolded = F.unfold(y, 2, stride=2).reshape(3, 20, 3, 2)
    assert torch.equal(flatten_patches(y, 2), unfolded)
    assert flatten_patches(y, 1) is y


def test_patch_size_two_projects_the_flattened_patch():
    """z = wᵀ p / (‖p‖ + eps) + b with p the 8 values of a 2×2 patch of 2 channels."""
    x = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    x[0, 0] = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    x[0, 1] = torch.tensor([[0.0, 0.0], [2.0, 4.0]])  # ‖p‖ = 5
    weight = torch.tensor([1.0, 0, 0, 0, 0, 0, 0, -1.0], dtype=torch.float64)
    out = ersm_mask(x, weight, torch.tensor(0.5, dtype=torch.float64), patch_size=2)
    want_z = (1.0 - 4.0) / (5.0 + EPS) + 0.5
    torch.testing.assert_close(out.unary, torch.tensor([[[want_z]]], dtype=torch.float64))
    torch.testing.assert_close(out.keep_prob, torch.sigmoid(-out.unary))
    torch.testing.assert_close(out.features, x * torch.sigmoid(torch.tensor(-want_z)))
    assert out.tokens.shape == (1, 8, 1, 1)


def test_patch_size_two_pairwise_uses_flattened_patches():
    """Two 2×2 patches side by side: E_p = γ softplus(p̂_1ᵀ p̂_2) for both."""
    x = torch.zeros(1, 1, 2, 4, dtype=torch.float64)
    x[0, 0, :, :2] = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    x[0, 0, :, 2:] = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    out = ersm_mask(x, torch.zeros(4, dtype=torch.float64), torch.tensor(0.0), patch_size=2,
                    pairwise_weight=1.0)
    dot = (1 / (1 + EPS)) * (1 / (R2 + EPS))
    expected = torch.full((1, 1, 2), math.log1p(math.exp(dot)), dtype=torch.float64)
    torch.testing.assert_close(out.pairwise_energy, expected)


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


# ---------------------------------------------------------------- (b) per-token bias


def test_token_bias_starts_at_six_and_closes_every_token():
    torch.manual_seed(0)
    layer = ERSMLayer(64, patch_size=2)
    with torch.no_grad():
        layer(torch.randn(4, 64, 16, 16))
    assert layer.token_bias.shape == (1, 64)
    assert torch.equal(layer.token_bias, torch.full((1, 64), 6.0))
    assert float(layer.keep_prob.mean()) < 0.01  # acceptance: σ(−6) ≈ 0.0025
    assert abs(float(layer.keep_prob.mean()) - 1 / (1 + math.exp(6))) < 2e-3


def test_token_bias_is_per_token():
    layer = paper_layer()
    with torch.no_grad():
        layer.token_bias.copy_(torch.arange(6.0, dtype=torch.float64)[None])
    layer(token_features())
    want = expected_terms()["z"] - B + torch.arange(6.0, dtype=torch.float64).reshape(2, 3)
    torch.testing.assert_close(layer.unary[0], want)


def test_token_bias_is_not_trained_by_default():
    layer = ERSMLayer(3)
    layer(torch.rand(2, 3, 4, 4))
    assert [name for name, _ in layer.named_parameters()] == ["proj.weight"]
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.1, weight_decay=1e-4)
    for _ in range(3):
        optimizer.zero_grad()
        layer(torch.rand(2, 3, 4, 4)).sum().neg().backward()
        optimizer.step()
    assert torch.equal(layer.token_bias, torch.full((1, 16), 6.0))


def test_train_token_bias_trains_it():
    layer = ERSMLayer(3, train_token_bias=True, num_tokens=16)
    assert isinstance(layer.token_bias, torch.nn.Parameter)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.1)
    layer(torch.rand(2, 3, 4, 4)).sum().neg().backward()
    optimizer.step()
    assert (layer.token_bias < 6.0).all()  # raising keep lowers b


def test_lazy_bias_follows_the_grid_like_the_paper():
    layer = ERSMLayer(3)
    layer(torch.rand(1, 3, 4, 4))
    assert layer.token_bias.shape == (1, 16)
    layer(torch.rand(1, 3, 2, 6))
    assert torch.equal(layer.token_bias, torch.full((1, 12), 6.0))


# ---------------------------------------------------------------- (c) normalisation


def test_normalisation_adds_eps_to_the_norm():
    p = torch.tensor([[3.0, 0.0], [4.0, 0.0]], dtype=torch.float64).reshape(1, 2, 1, 2)
    got = normalise_patches(p)
    torch.testing.assert_close(got[0, :, 0, 0], torch.tensor([3.0, 4.0],
                                                            dtype=torch.float64) / (5 + EPS))
    assert torch.equal(got[0, :, 0, 1], torch.zeros(2, dtype=torch.float64))


def test_zero_features_are_finite():
    layer = ERSMLayer(3)
    out = layer(torch.zeros(1, 3, 2, 2, requires_grad=True))
    (out.sum() + layer.regularizer()).backward()
    assert torch.isfinite(out).all() and torch.isfinite(layer.energy).all()


# ---------------------------------------------------------------- (d) errors


def test_exception_and_cardinality():
    with pytest.raises(ShapeError, match=r"\(B, 4, H, W\)"):
        ERSMLayer(4)(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ShapeError, match=r"multiples of patch_size=2.*5×4"):
        ERSMLayer(4, patch_size=2)(torch.zeros(1, 4, 5, 4))
    with pytest.raises(ValueError, match="temperature"):
        ERSMLayer(4, temperature=0.0)
    with pytest.raises(ValueError, match="pairwise_weight"):
        ERSMLayer(4, pairwise_weight=-1.0)
    with pytest.raises(ValueError, match="num_tokens"):
        ERSMLayer(4, train_token_bias=True)
    with pytest.raises(ShapeError, match="num_tokens=4"):
        ERSMLayer(4, train_token_bias=True, num_tokens=4)(torch.zeros(1, 4, 3, 3))
    with pytest.raises(ShapeError, match=r"weight must have shape \(C·p²,\) = \(8,\)"):
        ersm_mask(torch.zeros(1, 2, 2, 2), torch.zeros(2), 0.0, patch_size=2)
    with pytest.raises(ShapeError, match="forced_mask"):
        ERSMLayer(4)(torch.zeros(1, 4, 3, 3), forced_mask=torch.ones(1, 2, 2))
    assert ERSMLayer(4)(torch.zeros(0, 4, 3, 3)).shape == (0, 4, 3, 3)


# ---------------------------------------------------------------- (e) forced masks


def test_forced_mask_replaces_keep():
    layer, x = paper_layer(), token_features()
    mask = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]], dtype=torch.float64)
    out = layer(x, forced_mask=mask)
    torch.testing.assert_close(out, x * mask)
    torch.testing.assert_close(layer.keep_prob[0], expected_terms()["keep"])  # still recorded
    assert torch.equal(layer.last.mask, mask)


def test_forced_mask_rescales_the_pooled_features():
    """head(mean(f · m) · N / Σ m), N = 6 tokens, Σ m = 2, by hand."""
    model = MaskedClassifier(Identity(), paper_layer(), 1).double()
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor([[1.0, 10.0]]))
        model.head.bias.zero_()
    x = token_features()
    mask = torch.tensor([[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]], dtype=torch.float64)
    # kept tokens (1, 1) and (2, 0): channel sums 3 and 1; mean over 6 cells, times 6 / 2
    want = torch.tensor([[(3.0 / 6 + 10 * 1.0 / 6) * 3]], dtype=torch.float64)
    torch.testing.assert_close(model.classify(x, mask=mask), want)
    torch.testing.assert_close(classify_features(model, x, mask=mask, rescale=False), want / 3)
    torch.testing.assert_close(model(x, mask=mask), want)


# ---------------------------------------------------------------- module, gradients


def test_module():
    layer = ERSMLayer(6, patch_size=2, temperature=0.7)
    x = torch.rand(2, 6, 6, 4)
    out = layer(x)
    expected = ersm_mask(x, layer.proj.weight[0], layer.token_bias, 2, 0.7)
    torch.testing.assert_close(out, expected.features)
    torch.testing.assert_close(layer.regularizer(), expected.regularizer())


def test_pairwise_term_never_depends_on_the_mask_weights():
    """E_p is a function of the features alone: changing w, b leaves it unchanged."""
    x = token_features()
    a = ersm_mask(x, torch.tensor(W, dtype=torch.float64), torch.tensor(B, dtype=torch.float64))
    b = ersm_mask(x, torch.tensor((-2.0, 3.0), dtype=torch.float64),
                  torch.tensor(-1.0, dtype=torch.float64))
    torch.testing.assert_close(a.pairwise_energy, b.pairwise_energy)


def test_gradients_reach_backbone_and_layer():
    torch.manual_seed(0)
    backbone, layer = SmallCNN(width=4, out_channels=8), ERSMLayer(8)
    out = layer(backbone(torch.rand(2, 3, 16, 16)))
    (out.square().mean() + layer.regularizer()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters())


def test_gradcheck():
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(12, dtype=torch.float64, requires_grad=True)
    b = torch.rand(1, 4, dtype=torch.float64, requires_grad=True)

    def fn(x, w, b):
        out = ersm_mask(x, w, b, patch_size=2, unary_weight=0.5, pairwise_weight=0.5)
        return out.features, out.regularizer()

    assert torch.autograd.gradcheck(fn, (x, w, b))


def test_grid_energy_without_pairwise_gives_the_keep_decisions():
    layer = ERSMLayer(4, temperature=2.0, token_bias_init=0.0)
    layer(torch.rand(2, 4, 5, 5))
    energy = layer.grid_energy(pairwise_weight=0.0)
    assert energy.connectivity == 8
    torch.testing.assert_close(energy.unary, layer.unary.detach() / 2.0)
    mask = ersm.solve(energy, backend="graphcut").mask
    assert torch.equal(mask, layer.keep_prob > 0.5)
    weights = layer.grid_energy(pairwise_weight=0.3).pairwise
    torch.testing.assert_close(weights, ersm.cosine_weights(layer.last.tokens, 0.3, 8))
    torch.testing.assert_close(layer.last.tokens.norm(dim=1), torch.ones(2, 5, 5), atol=1e-5,
                               rtol=0)


# ---------------------------------------------------------------- state (issue 14, item 15)


def test_options_travel_in_the_state_dict():
    trained = ERSMLayer(3, temperature=0.5, unary_weight=0.2, pairwise_weight=0.0,
                        token_bias_init=4.0)
    trained(torch.rand(1, 3, 4, 4))
    fresh = ERSMLayer(3)
    fresh.load_state_dict(trained.state_dict())
    assert fresh.options() == trained.options()
    assert torch.equal(fresh.token_bias, trained.token_bias)
    x = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(fresh(x), trained(x))


def test_state_from_another_build_is_refused():
    state = ERSMLayer(8).state_dict()  # the same weight shape (1, 8) as C = 2, p = 2
    with pytest.raises(ValueError, match="patch_size: saved 1, layer 2"):
        ERSMLayer(2, patch_size=2).load_state_dict(state)


def test_state_without_options_still_loads():
    layer = ERSMLayer(3)
    layer(torch.rand(1, 3, 2, 2))
    state = {k: v for k, v in layer.state_dict().items() if k != "_extra_state"}
    fresh = ERSMLayer(3, temperature=0.3)
    fresh.load_state_dict(state)
    assert fresh.temperature == 0.3


def test_state_of_the_earlier_layer_is_named():
    old = {"proj.weight": torch.zeros(1, 3), "proj.bias": torch.zeros(1)}
    with pytest.raises(RuntimeError, match="earlier ERSMLayer"):
        ERSMLayer(3).load_state_dict(old)


def test_state_round_trips_through_torch_save(tmp_path):
    layer = ERSMLayer(3, temperature=0.25)
    layer(torch.rand(1, 3, 2, 2))
    torch.save(layer.state_dict(), tmp_path / "layer.pt")
    fresh = ERSMLayer(3)
    fresh.load_state_dict(torch.load(tmp_path / "layer.pt", weights_only=True))
    assert fresh.temperature == 0.25


def test_noncontiguous():
    x = torch.rand(2, 6, 4, 3).transpose(-1, -2)  # (2, 6, 3, 4) strided
    assert not x.is_contiguous()
    layer = ERSMLayer(3, patch_size=1)
    y = torch.rand(2, 3, 4, 6).transpose(-1, -2)
    torch.testing.assert_close(layer(y), layer(y.contiguous()))
    torch.testing.assert_close(flatten_patches(x, 1), x)
    z = torch.rand(1, 2, 6, 4).transpose(-1, -2)  # (1, 2, 4, 6) strided
    torch.testing.assert_close(flatten_patches(z, 2), flatten_patches(z.contiguous(), 2))


def test_classify_without_the_layer_is_pooling_and_head():
    model = MaskedClassifier(Identity(), ERSMLayer(2), 3)
    x = torch.rand(2, 2, 4, 4)
    torch.testing.assert_close(model.classify(x, use_layer=False), model.head(x.mean((-2, -1))))
    torch.testing.assert_close(model.classify(x), model.head(model.layer(x).mean((-2, -1))))
    torch.testing.assert_close(model(x), model.classify(x))
