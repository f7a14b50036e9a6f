"""Weight builders on flat/zero inputs and on channels-last pictures (issue 14, items 2, 12)."""

import numpy as np
import pytest
import torch

import ersm
from ersm.energy.offsets import valid_edge_mask
from ersm.energy.weights import contrast_weights, cosine_weights, looks_channels_last
from ersm.errors import ShapeError


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cosine_weights_zero_tokens_have_finite_gradients(dtype):
    x = torch.zeros(1, 3, 4, 4, dtype=dtype, requires_grad=True)
    cosine_weights(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    # one all-zero token among random ones (a ReLU output): still finite
    y = torch.rand(2, 5, 4, 4, dtype=dtype)
    y[:, :, 1, 2] = 0
    y.requires_grad_(True)
    cosine_weights(y, connectivity=8).sum().backward()
    assert torch.isfinite(y.grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_contrast_weights_flat_torch_input_gives_gamma(dtype):
    x = torch.zeros(1, 3, 4, 4, dtype=dtype, requires_grad=True)
    w = contrast_weights(x, gamma=0.7)
    expected = 0.7 * torch.as_tensor(valid_edge_mask(4, 4, 4), dtype=dtype)
    torch.testing.assert_close(w[0], expected)
    w.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_contrast_weights_flat_float32_numpy_gives_gamma():
    w = contrast_weights(np.ones((3, 4, 4), np.float32), gamma=0.5)
    np.testing.assert_allclose(w, 0.5 * valid_edge_mask(4, 4, 4))


def test_contrast_weights_one_flat_sample_in_batch():
    x = torch.zeros(2, 1, 4, 4)
    x[1, 0, :, 2:] = 1.0
    w = contrast_weights(x)
    assert torch.isfinite(w).all()
    torch.testing.assert_close(w[0], torch.as_tensor(valid_edge_mask(4, 4, 4), dtype=w.dtype))
    assert float(w[1, 0, 0, 1]) < 1.0  # the edge across the step is cheaper


@pytest.mark.parametrize("builder", [contrast_weights, cosine_weights])
@pytest.mark.parametrize("shape", [(12, 16, 3), (2, 12, 16, 3), (12, 16, 4), (12, 16, 1)])
def test_exception_channels_last_picture(builder, shape):
    picture = np.random.default_rng(0).random(shape)
    with pytest.raises(ShapeError, match="channels_last=True"):
        builder(picture)


@pytest.mark.parametrize("builder", [contrast_weights, cosine_weights])
def test_channels_last_matches_channels_first(builder):
    rng = np.random.default_rng(1)
    rgb = rng.random((2, 12, 16, 3))
    first = np.moveaxis(rgb, -1, 1)
    got = builder(rgb, connectivity=8, channels_last=True)
    assert got.shape == (2, 4, 12, 16)
    np.testing.assert_allclose(got, builder(first, connectivity=8), rtol=1e-12)
    single = builder(rgb[0], channels_last=True)
    assert single.shape == (2, 12, 16)
    t = builder(torch.tensor(rgb), channels_last=True)
    np.testing.assert_allclose(t.numpy(), builder(first), rtol=1e-12)


@pytest.mark.parametrize("builder", [contrast_weights, cosine_weights])
def test_explicit_channels_first_is_not_second_guessed(builder):
    feats = np.random.default_rng(2).random((6, 8, 3))  # 6 channels on an 8 x 3 grid
    assert builder(feats, channels_last=False).shape == (2, 8, 3)


def test_feature_maps_are_not_flagged():
    assert not looks_channels_last((64, 4, 4))
    assert not looks_channels_last((2, 3, 16, 16))
    assert not looks_channels_last((2, 1, 3))
    assert looks_channels_last((32, 32, 3))
    ersm.cosine_weights(torch.rand(2, 64, 4, 4))  # small CNN feature maps pass
