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
from ..core.checks import (check_array_like, check_finite, check_finite_scalar,
                           check_nonnegative_scalar, check_positive, check_real_dtype)
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
    value = check_finite_scalar(value, "value")
    n_k = num_channels(connectivity)
    out = np.zeros((1, n_k, height, width))
    for k in range(n_k):
        (ys, xs), _ = edge_slices(k, height, width)
        out[:, k, ys, xs] = value
    return out[0] if batch_size is None else np.repeat(out, batch_size, axis=0)


#: channel counts of pictures (grey, RGB, RGBA): a last axis of this size after two
#: larger axes is read as channels-last unless ``channels_last`` is given explicitly
_PICTURE_CHANNELS = (1, 3, 4)


def looks_channels_last(shape: tuple[int, ...]) -> bool:
    """Whether a ``(…, A, B, C)`` shape looks like a channels-last picture.

    True when the last axis has 1, 3 or 4 entries (grey, RGB, RGBA) and the two axes
    before it are both longer than 4: read as ``(C, H, W)`` it would be a grid only 1,
    3 or 4 tokens wide with more channels than a picture has.

    Example:
        >>> looks_channels_last((32, 48, 3)), looks_channels_last((3, 32, 48))
        (True, False)
    """
    return (len(shape) >= 3 and shape[-1] in _PICTURE_CHANNELS
            and shape[-3] > 4 and shape[-2] > 4)


def _features_bchw(x: Any, name: str, channels_last: bool | None) -> tuple[Any, bool]:
    """Return ``(B, C, H, W)`` features and whether the input was batched.

    ``channels_last=None`` reads ``(C, H, W)`` / ``(B, C, H, W)`` but refuses a shape
    that :func:`looks_channels_last`; ``True``/``False`` state the layout explicitly.
    """
    x = check_array_like(x, name)
    check_real_dtype(x, name)
    check_finite(x, name)
    if x.ndim == 2:
        return x[None, None], False
    if x.ndim not in (3, 4):
        raise ShapeError(f"{name} must have shape (H, W), (C, H, W) or (B, C, H, W), got {tuple(x.shape)}")
    if channels_last is None:
        if looks_channels_last(tuple(int(n) for n in x.shape)):
            raise ShapeError(
                f"{name} of shape {tuple(x.shape)} looks like a channels-last (H, W, C) "
                f"picture: pass channels_last=True (or channels_last=False if it really is "
                f"(C, H, W) features on a grid {int(x.shape[-1])} tokens wide)"
            )
        channels_last = False
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
                     connectivity: int = 4, channels_last: bool | None = None,
                     scale_by_distance: bool = True) -> Any:
    """Contrast-sensitive weights ``w = γ · exp(−‖f_i − f_j‖² / (2σ²)) [/ ‖offset‖]``.

    Args:
        image: ``(H, W)``, ``(C, H, W)`` or ``(B, C, H, W)`` (``(…, H, W, C)`` with
            ``channels_last=True``).
        gamma: overall strength ``γ ≥ 0``.
        sigma: contrast scale; default per sample ``σ² = mean ‖f_i − f_j‖²`` over the
            in-grid edges (the mean edge contrast). A flat image gives ``w = γ``.
        connectivity: 4 or 8.
        channels_last: ``True`` for ``(H, W, C)`` / ``(B, H, W, C)`` pictures, ``False``
            for channels-first; ``None`` (default) reads channels-first and raises a
            :class:`~ersm.errors.ShapeError` naming ``channels_last=True`` when the
            shape looks like a picture (last axis 1, 3 or 4, the other two longer than 4).
        scale_by_distance: divide diagonal weights by √2 (their length).

    Returns:
        ``(B, K, H, W)`` or ``(K, H, W)``; zeros off-grid.
    """
    check_nonnegative_scalar(gamma, "gamma")  # checked, kept as given (a tensor keeps its graph)
    if sigma is not None:
        check_positive(sigma, "sigma")
    f, batched = _features_bchw(image, "image", channels_last)
    sq = _edge_map(f, connectivity, lambda a, b: ((a - b) ** 2).sum(1))
    if sigma is None:
        two_sigma_sq = 2 * _valid_mean(sq, connectivity)
        # a flat sample (mean contrast 0, or below the dtype's smallest normal) has
        # sq = 0 on every edge: any σ gives w = γ, so σ² falls back to 1 there; a
        # `where` (not a clamp at `tiny`) keeps float32 finite and gradients NaN-free
        if is_torch(sq):
            import torch

            flat = two_sigma_sq < torch.finfo(sq.dtype).tiny
            two_sigma_sq = torch.where(flat, torch.ones_like(two_sigma_sq), two_sigma_sq)
        else:
            flat = two_sigma_sq < np.finfo(sq.dtype).tiny
            two_sigma_sq = np.where(flat, 1.0, two_sigma_sq).astype(sq.dtype)
        two_sigma_sq = two_sigma_sq[:, None, None, None]
    else:
        two_sigma_sq = 2.0 * sigma**2
    w = gamma * (sq / two_sigma_sq * -1).exp() if is_torch(sq) else gamma * np.exp(-sq / two_sigma_sq)
    if scale_by_distance:
        w = w / _edge_lengths(connectivity, w)[:, None, None]
    valid = valid_edge_mask(f.shape[-2], f.shape[-1], connectivity)
    w = w * like_array(valid, w, same_dtype=True)  # 0 off-grid
    return w if batched else w[0]


def cosine_weights(features: Any, gamma: float = 1.0, connectivity: int = 4,
                   eps: float = 1e-8, channels_last: bool | None = None) -> Any:
    """Feature-similarity weights ``w = γ · max(cos(f_i, f_j), 0)``.

    Args:
        features: ``(C, H, W)`` or ``(B, C, H, W)`` (``(…, H, W, C)`` with
            ``channels_last=True``).
        gamma: overall strength ``γ ≥ 0``.
        connectivity: 4 or 8.
        channels_last: as in :func:`contrast_weights`: ``None`` (default) refuses a
            shape that looks like an ``(H, W, C)`` picture and names ``channels_last=True``.
        eps: feature norms are clamped at ``√eps``, so zero features have similarity 0.

    Returns:
        ``(B, K, H, W)`` or ``(K, H, W)``; zeros off-grid.
    """
    check_nonnegative_scalar(gamma, "gamma")  # checked, kept as given (a tensor keeps its graph)
    f, batched = _features_bchw(features, "features", channels_last)
    if f.shape[1] == 0:
        raise ShapeError("features must have at least one channel")

    # dot products per edge times the inverse norms of both ends: no division of the
    # (B, C, H, W) features (whose broadcast backward dominated the mask layer's cost);
    # a zero feature has a zero dot product, so its similarity is 0
    dots = _edge_map(f, connectivity, lambda a, b: (a * b).sum(1))
    if is_torch(f):
        # clamp the squared norm before the square root: sqrt's derivative at 0 is
        # inf, and inf · 0 (the clamp's) put NaN into the backward of zero tokens
        inverse = 1 / (f * f).sum(1, keepdim=True).clamp(min=eps).sqrt()
    else:
        inverse = 1 / np.sqrt(np.maximum((f * f).sum(1, keepdims=True), eps))
    w = dots * _edge_map(inverse, connectivity, lambda a, b: a[:, 0] * b[:, 0])
    w = w.clamp(min=0) if is_torch(w) else np.maximum(w, 0)
    w = gamma * w
    return w if batched else w[0]
