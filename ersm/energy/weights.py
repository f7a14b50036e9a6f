"""Pairwise weight builders: constant, contrast-sensitive and cosine similarity.

Outputs follow the layout of :mod:`ersm.energy.offsets`: ``(B, K, H, W)`` (or
``(K, H, W)`` for unbatched input) with zeros on edges that leave the grid. NumPy in,
NumPy out; torch in, torch out (differentiable, same device).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..core.arrays import is_torch
from ..core.arrays import like as like_array
from ..core.checks import check_array_like, check_finite, check_real_dtype
from ..core.errors import ShapeError
from .offsets import OFFSETS, edge_slices, num_channels, valid_edge_mask


def constant_weights(height: int, width: int, value: float = 1.0, connectivity: int = 4,
                     batch_size: int | None = None) -> np.ndarray:
    """Constant Potts weights, float64 NumPy.

    Returns:
        ``(K, H, W)`` or ``(B, K, H, W)`` when ``batch_size`` is given; 0 off-grid.

    Example:
        >>> constant_weights(2, 3, 0.5).shape
        (2, 2, 3)
    """
    if height < 1 or width < 1:
        raise ShapeError(f"height and width must be >= 1, got {height}x{width}")
    if not math.isfinite(value):
        raise ValueError(f"value must be finite, got {value}")
    n_k = num_channels(connectivity)
    out = np.zeros((1, n_k, height, width))
    for k in range(n_k):
        (ys, xs), _ = edge_slices(k, height, width)
        out[:, k, ys, xs] = value
    return out[0] if batch_size is None else np.repeat(out, batch_size, axis=0)


def _features_bchw(x: Any, name: str, channels_last: bool) -> tuple[Any, bool]:
    """Return ``(B, C, H, W)`` features and whether the input was batched."""
    x = check_array_like(x, name)
    check_real_dtype(x, name)
    check_finite(x, name)
    if x.ndim == 2:
        return x[None, None], False
    if x.ndim not in (3, 4):
        raise ShapeError(f"{name} must have shape (H, W), (C, H, W) or (B, C, H, W), got {tuple(x.shape)}")
    batched = x.ndim == 4
    if not batched:
        x = x[None]
    if channels_last:
        x = x.permute(0, 3, 1, 2) if is_torch(x) else np.moveaxis(x, -1, 1)
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ShapeError(f"{name} must describe a non-empty grid, got {tuple(x.shape)}")
    if not is_torch(x):
        x = np.asarray(x, np.float64)
    elif not x.is_floating_point():
        x = x.double()
    return x, batched


def _edge_map(features: Any, connectivity: int, edge_fn: Callable[[Any, Any], Any]) -> Any:
    """Apply ``edge_fn(f_src, f_dst) -> (B, h, w)`` per channel into a ``(B, K, H, W)`` map."""
    b, _, height, width = features.shape
    n_k = num_channels(connectivity)
    if is_torch(features):
        import torch

        out = torch.zeros((b, n_k, height, width), dtype=features.dtype, device=features.device)
    else:
        out = np.zeros((b, n_k, height, width), dtype=features.dtype)
    for k in range(n_k):
        (ys, xs), (yd, xd) = edge_slices(k, height, width)
        out[:, k, ys, xs] = edge_fn(features[:, :, ys, xs], features[:, :, yd, xd])
    return out


def _valid_mean(values: Any, connectivity: int) -> Any:
    """Per-sample mean of ``(B, K, H, W)`` over in-grid edges, ``(B,)``."""
    _, _, height, width = values.shape
    count = int(valid_edge_mask(height, width, connectivity).sum())
    total = values.sum(dim=(1, 2, 3)) if is_torch(values) else values.sum(axis=(1, 2, 3))
    return total / max(count, 1)


def _edge_lengths(connectivity: int, like: Any) -> Any:
    lengths = np.array([math.hypot(*OFFSETS[k]) for k in range(num_channels(connectivity))])
    return like_array(lengths, like, same_dtype=True)


def contrast_weights(image: Any, gamma: float = 1.0, sigma: float | None = None,
                     connectivity: int = 4, channels_last: bool = False,
                     scale_by_distance: bool = True) -> Any:
    """Contrast-sensitive weights ``w = γ · exp(−‖f_i − f_j‖² / (2σ²)) [/ ‖offset‖]``.

    Args:
        image: ``(H, W)``, ``(C, H, W)`` or ``(B, C, H, W)`` (``(…, H, W, C)`` with
            ``channels_last=True``).
        gamma: overall strength ``γ ≥ 0``.
        sigma: contrast scale; default per sample ``σ² = mean ‖f_i − f_j‖²`` over the
            in-grid edges (the mean edge contrast). A flat image gives ``w = γ``.
        connectivity: 4 or 8.
        scale_by_distance: divide diagonal weights by √2 (their length).

    Returns:
        ``(B, K, H, W)`` or ``(K, H, W)``; zeros off-grid.
    """
    if gamma < 0 or not math.isfinite(gamma):
        raise ValueError(f"gamma must be finite and >= 0, got {gamma}")
    if sigma is not None and not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be finite and > 0, got {sigma}")
    f, batched = _features_bchw(image, "image", channels_last)
    sq = _edge_map(f, connectivity, lambda a, b: ((a - b) ** 2).sum(1))
    if sigma is None:
        two_sigma_sq = 2 * _valid_mean(sq, connectivity)
        tiny = np.finfo(np.float64).tiny
        two_sigma_sq = (two_sigma_sq.clamp(min=tiny) if is_torch(sq)
                        else np.maximum(two_sigma_sq, tiny))[:, None, None, None]
    else:
        two_sigma_sq = 2.0 * sigma**2
    w = gamma * (sq / two_sigma_sq * -1).exp() if is_torch(sq) else gamma * np.exp(-sq / two_sigma_sq)
    if scale_by_distance:
        w = w / _edge_lengths(connectivity, w)[:, None, None]
    valid = valid_edge_mask(f.shape[-2], f.shape[-1], connectivity)
    w = w * like_array(valid, w, same_dtype=True)  # 0 off-grid
    return w if batched else w[0]


def cosine_weights(features: Any, gamma: float = 1.0, connectivity: int = 4,
                   eps: float = 1e-8) -> Any:
    """Feature-similarity weights ``w = γ · max(cos(f_i, f_j), 0)``.

    Args:
        features: ``(C, H, W)`` or ``(B, C, H, W)``.
        gamma: overall strength ``γ ≥ 0``.
        connectivity: 4 or 8.
        eps: feature norms are clamped at ``√eps``, so zero features have similarity 0.

    Returns:
        ``(B, K, H, W)`` or ``(K, H, W)``; zeros off-grid.
    """
    if gamma < 0 or not math.isfinite(gamma):
        raise ValueError(f"gamma must be finite and >= 0, got {gamma}")
    f, batched = _features_bchw(features, "features", channels_last=False)
    if f.shape[1] == 0:
        raise ShapeError("features must have at least one channel")

    # dot products per edge times the inverse norms of both ends: no division of the
    # (B, C, H, W) features (whose broadcast backward dominated the mask layer's cost);
    # a zero feature has a zero dot product, so its similarity is 0
    dots = _edge_map(f, connectivity, lambda a, b: (a * b).sum(1))
    if is_torch(f):
        inverse = 1 / (f * f).sum(1, keepdim=True).sqrt().clamp(min=math.sqrt(eps))
    else:
        inverse = 1 / np.maximum(np.sqrt((f * f).sum(1, keepdims=True)), math.sqrt(eps))
    w = dots * _edge_map(inverse, connectivity, lambda a, b: a[:, 0] * b[:, 0])
    w = w.clamp(min=0) if is_torch(w) else np.maximum(w, 0)
    w = gamma * w
    return w if batched else w[0]
