"""EnergyMaskLayer: shapes, backend swap, gradients, module == functional, regulariser."""

from __future__ import annotations

import copy
import doctest
import pickle
import warnings

import numpy as np
import pytest
import torch

import ersm
import ersm.nets.energy_mask
from ersm.errors import ShapeError
from ersm.nets import SmallCNN
from ersm.nets.ersm_layer import ERSMLayer
from ersm.nets.energy_mask import (
    EnergyMaskLayer,
    energy_mask,
    mask_regularizer,
    pool_tokens,
    token_pairwise,
    upsample_tokens,
)

DIFFERENTIABLE = ("meanfield", "meanfield_implicit", "ste", "perturbed", "tv")



def features(batch=2, channels=6, height=5, width=7, seed=0, dtype=torch.float32):
    return torch.rand(batch, channels, height, width, generator=torch.Generator().manual_seed(seed),
                      dtype=dtype)


def test_doctests():
    assert doctest.testmod(ersm.nets.energy_mask).failed == 0


@pytest.mark.parametrize("patch_size, tokens", [(1, (5, 7)), (2, (3, 4)), (3, (2, 3))])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_smoke(patch_size, tokens, connectivity):
    layer = EnergyMaskLayer(6, patch_size=patch_size, connectivity=connectivity)
    x = features()
    out = layer(x)
    k = connectivity // 2
    assert out.shape == x.shape
    assert layer.unary.shape == layer.mask.shape == layer.q.shape == (2, *tokens)
    assert layer.pairwise.shape == (2, k, *tokens)
    assert layer.mask.dtype == torch.bool and layer.energy.dtype == torch.float64
    assert layer.energy.shape == (2,) and layer.keep_prob is layer.gate
    gate = upsample_tokens(layer.gate, patch_size, (5, 7))
    torch.testing.assert_close(out, x * gate[:, None])


def test_cardinality_batch_zero():
    layer = EnergyMaskLayer(4)
    assert layer(torch.zeros(0, 4, 3, 3)).shape == (0, 4, 3, 3)
    assert float(layer.regularizer().detach()) == 0.0


def test_exception():
    with pytest.raises(ShapeError, match=r"\(B, 6, H, W\), got \(2, 5, 3, 3\)"):
        EnergyMaskLayer(6)(torch.zeros(2, 5, 3, 3))
    with pytest.raises(ValueError, match="pairwise must be one of"):
        EnergyMaskLayer(6, pairwise="dot")
    with pytest.raises(ValueError, match="backend must be one of"):
        EnergyMaskLayer(6, backend="nope")
    with pytest.raises(TypeError, match=r"\['itres'\] are accepted by no backend"):
        EnergyMaskLayer(6, backend_options={"itres": 3})
    with pytest.raises(ValueError, match="patch_size"):
        EnergyMaskLayer(6, patch_size=0)
    with pytest.raises(RuntimeError, match="not run forward"):
        EnergyMaskLayer(6).regularizer()


def test_noncontiguous():
    x = features(channels=4).permute(0, 1, 3, 2)
    assert not x.is_contiguous()
    layer = EnergyMaskLayer(4, patch_size=2)
    torch.testing.assert_close(layer(x), layer(x.contiguous()))


def test_pool_and_upsample_partial_patches():
    x = torch.arange(15.0).reshape(1, 1, 3, 5)
    tokens = pool_tokens(x, 2)
    assert tokens.shape == (1, 1, 2, 3)
    assert float(tokens[0, 0, 1, 2]) == 14.0  # a 1×1 corner patch averages its one cell
    assert float(tokens[0, 0, 0, 2]) == (4 + 9) / 2
    back = upsample_tokens(tokens[:, 0], 2, (3, 5))
    assert back.shape == (1, 3, 5) and float(back[0, 2, 4]) == 14.0


@pytest.mark.parametrize("kind", ["cosine", "contrast"])
def test_pairwise_from_feature_similarity(kind):
    tokens = features(channels=3)
    builder = ersm.cosine_weights if kind == "cosine" else ersm.contrast_weights
    torch.testing.assert_close(token_pairwise(tokens, kind, 0.3, 8),
                               builder(tokens, gamma=0.3, connectivity=8))


def test_learned_pairwise_is_nonnegative_and_zero_off_grid():
    layer = EnergyMaskLayer(6, pairwise="learned", connectivity=8)
    with torch.no_grad():
        layer.edge_weight.copy_(torch.linspace(-3, 3, 6))
    layer(features())
    valid = torch.from_numpy(ersm.energy.valid_edge_mask(5, 7, 8))
    assert (layer.pairwise >= 0).all()
    assert (layer.pairwise[:, ~valid] == 0).all() and (layer.pairwise[:, valid] > 0).all()


def test_backend_swap_on_built_layer():
    layer = EnergyMaskLayer(6, backend="meanfield", pairwise_weight=0.4)
    x = features()
    layer(x)
    assert layer.q is not None and layer.q.requires_grad
    layer.backend = "graphcut"
    layer.eval()
    with torch.no_grad():
        out = layer(x)
    exact = ersm.solve(layer.grid_energy(), backend="graphcut")
    assert layer.q is None and torch.equal(layer.mask, exact.mask)
    torch.testing.assert_close(layer.energy, exact.energy)
    torch.testing.assert_close(out, x * layer.mask[:, None])
    with pytest.raises(ValueError, match="backend must be one of"):
        layer.backend = "nope"


def test_options_follow_the_backend():
    layer = EnergyMaskLayer(6, backend_options={"iters": 3, "schedule": "parallel"}).eval()
    layer(features())
    layer.backend = "graphcut"  # takes neither option nor temperature: they are left out
    layer(features())
    assert layer.mask.shape == (2, 5, 7)


@pytest.mark.parametrize("backend", DIFFERENTIABLE)
@pytest.mark.parametrize("pairwise", ["cosine", "learned"])
def test_gradients_reach_backbone_and_layer(backend, pairwise):
    torch.manual_seed(0)
    backbone = SmallCNN(width=4, out_channels=8)
    layer = EnergyMaskLayer(8, backend=backend, pairwise=pairwise, init_bias=0.0)
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    target = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "gives no gradient" warning
        out = layer(backbone(images))
    ((out - target) ** 2).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters())
    if pairwise == "learned" and backend.startswith("meanfield"):  # smooth in w
        assert layer.edge_bias.grad is not None and layer.edge_bias.grad.abs() > 0


def test_nondifferentiable_backend_warns_once_and_gives_no_task_gradient():
    layer = EnergyMaskLayer(6, backend="graphcut")
    x = features().requires_grad_()
    with pytest.warns(UserWarning, match="'graphcut' gives no gradient"):
        out = layer(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer(x)
    out.sum().backward()
    assert layer.weight.grad is None and layer.bias.grad is None
    torch.testing.assert_close(x.grad, layer.gate[:, None].expand_as(x))


@pytest.mark.parametrize("backend", ["meanfield", "graphcut"])
def test_module(backend):
    layer = EnergyMaskLayer(6, backend=backend, connectivity=8, patch_size=2, temperature=0.5,
                            unary_weight=2.0, pairwise_weight=0.3, pairwise="learned",
                            backend_options={"iters": 7}).eval()
    x = features()
    got = layer(x)
    expected = energy_mask(x, layer.weight, layer.bias, backend, 8, 2, 0.5, 2.0, 0.3, "learned",
                           layer.edge_weight, layer.edge_bias, {"iters": 7})
    torch.testing.assert_close(got, expected.features)
    torch.testing.assert_close(layer.unary, expected.unary)
    torch.testing.assert_close(layer.pairwise, expected.pairwise)
    assert torch.equal(layer.mask, expected.mask)
    torch.testing.assert_close(layer.regularizer(), layer.reg_weight * expected.regularizer())


def test_regularizer_formula():
    unary = torch.tensor([[[-1.0, 2.0]]])
    pairwise = torch.tensor([[[[0.5, 0.0]], [[0.0, 0.0]]]])  # one edge (0,0)-(0,1), w = 0.5
    q = torch.tensor([[[0.75, 0.25]]])
    expected = (-1 * 0.75 + 2 * 0.25 + 0.5 * (0.75 + 0.25 - 2 * 0.75 * 0.25) - (-1.0)) / 2
    torch.testing.assert_close(mask_regularizer(unary, pairwise, q), torch.tensor(expected))
    # zero when the mask follows every unary and no edge is cut
    zero = mask_regularizer(unary, torch.zeros_like(pairwise), torch.tensor([[[1.0, 0.0]]]))
    assert float(zero) == 0.0


def test_regularizer_is_nonnegative():
    layer = EnergyMaskLayer(6, backend="meanfield", init_bias=0.0)
    for seed in range(3):
        layer(features(seed=seed))
        assert float(layer.regularizer().detach()) >= 0


def test_gradcheck():
    x = features(1, 2, 3, 3, dtype=torch.float64).requires_grad_()
    weight = torch.tensor([0.7, -0.4], dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    options = {"iters": 15, "tol": 0.0, "schedule": "parallel", "damping": 0.5}

    def fn(x, weight, bias):
        out = energy_mask(x, weight, bias, "meanfield", pairwise_weight=0.3,
                          backend_options=options)
        return out.features, out.regularizer()

    assert torch.autograd.gradcheck(fn, (x, weight, bias))


@pytest.mark.parametrize("layer", [EnergyMaskLayer(6), ERSMLayer(6)], ids=["mrf", "ersm"])
def test_copy_and_pickle_after_forward(layer):
    layer(features().requires_grad_())
    clone = pickle.loads(pickle.dumps(copy.deepcopy(layer)))
    assert clone.last is None and layer.last is not None
    torch.testing.assert_close(clone(features()), layer(features()))


def test_energy_is_the_mask_energy():
    layer = EnergyMaskLayer(6, backend="ste")
    layer(features())
    expected = layer.grid_energy().energy(layer.mask)
    np.testing.assert_allclose(layer.energy.detach().numpy(), expected.numpy())


def test_backend_and_options_travel_in_the_state_dict():
    from ersm.nets import EnergyMaskLayer

    trained = EnergyMaskLayer(8, backend="ste", connectivity=8, temperature=0.5, keep_ratio=0.2)
    state = trained.state_dict()
    fresh = EnergyMaskLayer(8)
    fresh.load_state_dict(state)
    assert (fresh.backend, fresh.connectivity, fresh.temperature, fresh.keep_ratio) == (
        "ste", 8, 0.5, 0.2)
    old = {k: v for k, v in state.items() if k != "_extra_state"}  # a checkpoint from before
    EnergyMaskLayer(8).load_state_dict(old)
    with pytest.raises(ValueError, match="differently built EnergyMaskLayer"):
        EnergyMaskLayer(8, patch_size=2).load_state_dict(state)
