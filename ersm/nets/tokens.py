"""Tokens of a feature map: checks, average pooling into patches, and the way back.

A token is a ``patch_size × patch_size`` cell of features ``(B, C, H, W)``; the token grid
is ``h × w`` with ``h = ⌈H / patch_size⌉``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.errors import ShapeError


def check_features(features: torch.Tensor, channels: int | None = None) -> None:
    """Raise :class:`~ersm.errors.ShapeError` unless ``features`` is ``(B, C, H, W)``.

    Args:
        features: a floating tensor.
        channels: the expected ``C`` (``None``: any).
    """
    if not isinstance(features, torch.Tensor) or not features.is_floating_point():
        raise TypeError(f"features must be a floating torch tensor, got "
                        f"{getattr(features, 'dtype', type(features).__name__)}")
    if features.ndim != 4 or (channels is not None and features.shape[1] != channels):
        expected = f"(B, {channels if channels is not None else 'C'}, H, W)"
        raise ShapeError(f"features must have shape {expected}, got {tuple(features.shape)}")


def check_patch_size(patch_size: int) -> int:
    """Return ``patch_size`` if it is an integer ``≥ 1``."""
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be an integer >= 1, got {patch_size!r}")
    return patch_size


def pool_tokens(features: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Average-pool ``patch_size × patch_size`` cells into tokens.

    Args:
        features: ``(B, C, H, W)``.
        patch_size: ``p ≥ 1``; a last partial patch averages the cells it covers.

    Returns:
        ``(B, C, ⌈H/p⌉, ⌈W/p⌉)`` (the input itself for ``p = 1``).

    Example:
        >>> pool_tokens(torch.ones(1, 2, 5, 4), 2).shape
        torch.Size([1, 2, 3, 2])
    """
    if check_patch_size(patch_size) == 1:
        return features
    return F.avg_pool2d(features, patch_size, patch_size, ceil_mode=True)


def upsample_tokens(values: torch.Tensor, patch_size: int, size: tuple[int, int]) -> torch.Tensor:
    """Repeat every token over its patch and crop to ``size``.

    Args:
        values: ``(B, h, w)`` per-token values.
        patch_size: ``p`` used by :func:`pool_tokens`.
        size: ``(H, W)`` of the feature map.

    Returns:
        ``(B, H, W)``.
    """
    if patch_size > 1:
        values = values.repeat_interleave(patch_size, -2).repeat_interleave(patch_size, -1)
    return values[..., : size[0], : size[1]]


__all__ = ["check_features", "check_patch_size", "pool_tokens", "upsample_tokens"]
