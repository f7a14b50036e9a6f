"""Pairwise weight builders: layout, defaults, NumPy/torch parity, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ersm.energy import constant_weights, contrast_weights, cosine_weights, valid_edge_mask


@pytest.mark.parametrize("connectivity", [4, 8])
def test_constant_weights_zero_off_grid(connectivity):
    w = constant_weights(3, 4, 0.5, connectivity, batch_size=2)
    assert w.shape == (2, connectivity // 2, 3, 4)
    np.testing.assert_array_equal(w[0], 0.5 * valid_edge_mask(3, 4, connectivity))


def test_contrast_weights_formula_and_default_sigma():
    img = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 3.0]])
    w = contrast_weights(img, gamma=2.0, connectivity=4)
    sq = [1.0, 0.0, 0.0, 9.0, 0.0, 1.0, 4.0]  # right: (0,0)(0,1)(1,0)(1,1); down: 3 cols
    two_sigma_sq = 2 * np.mean(sq)
    assert w[0, 0, 0] == pytest.approx(2 * math.exp(-1 / two_sigma_sq))
    assert w[0, 1, 1] == pytest.approx(2 * math.exp(-9 / two_sigma_sq))
    assert w[1, 0, 2] == pytest.approx(2 * math.exp(-4 / two_sigma_sq))
    assert w[0, :, 2].tolist() == [0.0, 0.0] and w[1, 1, :].tolist() == [0.0] * 3


def test_contrast_weights_channels_and_diagonals():
    rng = np.random.default_rng(0)
    img = rng.random((2, 5, 6, 3))
    w_last = contrast_weights(img, sigma=0.3, connectivity=8, channels_last=True)
    w_first = contrast_weights(np.moveaxis(img, -1, 1), sigma=0.3, connectivity=8)
    np.testing.assert_allclose(w_last, w_first)
    d = ((img[0, 0, 0] - img[0, 1, 1]) ** 2).sum()
    assert w_first[0, 2, 0, 0] == pytest.approx(math.exp(-d / (2 * 0.09)) / math.sqrt(2))
    assert (w_first * ~valid_edge_mask(5, 6, 8) == 0).all()


def test_flat_image_gives_gamma():
    w = contrast_weights(np.ones((4, 4)), gamma=0.7)
    np.testing.assert_allclose(w, 0.7 * valid_edge_mask(4, 4, 4))


def test_torch_parity_and_gradients():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(2, 4, 5, 5))
    ft = torch.tensor(feats, requires_grad=True)
    for fn in (contrast_weights, cosine_weights):
        wt = fn(ft, connectivity=8)
        np.testing.assert_allclose(wt.detach().numpy(), fn(feats, connectivity=8), rtol=1e-12)
        wt.sum().backward()
        assert ft.grad is not None and torch.isfinite(ft.grad).all()


def test_cosine_weights_clamped_and_zero_norm():
    f = np.zeros((2, 1, 3))
    f[:, 0, 0] = [1, 0]
    f[:, 0, 1] = [-1, 0]
    w = cosine_weights(f)
    assert w[0, 0, 0] == 0.0 and w[0, 0, 1] == 0.0  # opposite → clamped; zero-norm → 0
    np.testing.assert_allclose(cosine_weights(np.ones((3, 2, 2)), gamma=2), 2 * valid_edge_mask(2, 2, 4))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: contrast_weights(np.zeros((2, 2)), gamma=-1), "gamma must be finite and >= 0"),
        (lambda: contrast_weights(np.zeros((2, 2)), sigma=0), "sigma must be finite and > 0"),
        (lambda: contrast_weights(np.zeros(5)), r"image must have shape \(H, W\)"),
        (lambda: contrast_weights(np.full((2, 2), np.nan)), "image contains NaN"),
        (lambda: cosine_weights(np.zeros((0, 2, 2))), "at least one channel"),
        (lambda: constant_weights(0, 3), "height and width must be >= 1"),
    ],
)
def test_exception_messages(call, match):
    with pytest.raises(ValueError, match=match):
        call()
