"""Deletion and insertion curves (and so pruning curves), and their normalised areas.

Tokens are taken away (or put back) in the order of a ranking
(:mod:`~ersm.evaluation.rankings`, most important first) and the **true-class
probability** is recorded after each of ``steps`` equal fractions ``0, 1/S, …, 1`` of the
``h·w`` tokens (:func:`step_counts`):

- ``deletion``: remove the most important tokens first; a faithful ranking makes the
  probability fall at once (**lower area is better**);
- ``insertion``: start from everything removed and put the most important tokens back
  first (**higher is better**);

**Pruning is insertion read backwards.** The paper's pruning test removes the *least*
important tokens first (magnitude pruning drops the smallest norms first) and a good
ranking keeps the probability up. After pruning ``n − k`` of ``n`` tokens the input is the
``k`` most important tokens on the fill, exactly the input of insertion step ``k``; so the
pruning curve is the insertion curve mirrored (``x → 1 − x``) and has the same area. The
insertion AUC therefore *is* the pruning score (higher = better) and is not computed twice.

Two ways to remove a token (``mode``):

- ``feature``: at the layer input, the token's patch of feature cells is replaced by
  ``fill`` (``"zero"``, the paper's way, or ``"mean"``: the image's mean feature), and the
  layer, pooling and head run on the result (the layer recomputes its mask);
- ``pixel``: RISE-style, the token's cell upsampled to pixels is replaced by a blurred
  copy of the image (``"blur"``, Gaussian σ = one token cell) or the image's mean colour
  (``"mean"``), and the whole model runs again.

:func:`auc` is the trapezoid area over the removed fraction ``x ∈ [0, 1]``, divided by
the x range, so it lies in ``[0, 1]`` for probabilities. The area of the mean curve
equals the mean of the per-image areas.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .attribution import layer_view
from .rankings import ranks

CURVES: tuple[str, ...] = ("deletion", "insertion")
MODES: tuple[str, ...] = ("feature", "pixel")
FILLS: tuple[str, ...] = ("zero", "mean", "blur")
DEFAULT_FILL: dict[str, str] = {"feature": "zero", "pixel": "blur"}

Classifier = Callable[[torch.Tensor], torch.Tensor]
"""Maps a batch of inputs ``(N, ...)`` to logits ``(N, K)``."""
Expander = Callable[[torch.Tensor], torch.Tensor]
"""Maps token masks ``(N, h, w)`` to the input grid, broadcastable as ``(N, 1, H, W)``."""


def auc(y: np.ndarray | torch.Tensor, x: np.ndarray | torch.Tensor | None = None) -> float:
    """Trapezoid area under ``y(x)`` divided by ``x[-1] − x[0]``.

    Args:
        y: ``(S + 1,)`` curve values.
        x: ``(S + 1,)`` increasing abscissae (default: ``linspace(0, 1, S + 1)``).

    Returns:
        the normalised area (the mean height); ``y[0]`` for a single point.

    Example:
        >>> auc([1.0, 0.5, 0.0]), auc([0.0, 1.0], [0.0, 4.0])
        (0.5, 0.5)
    """
    y = np.asarray(y, dtype=np.float64)
    if y.shape[-1] == 1:
        return float(y[..., 0])
    x = np.linspace(0.0, 1.0, y.shape[-1]) if x is None else np.asarray(x, dtype=np.float64)
    if x.shape != y.shape[-1:]:
        raise ValueError(f"x must have shape ({y.shape[-1]},), got {x.shape}")
    span = x[-1] - x[0]
    if not span > 0:
        raise ValueError(f"x must increase, got x[0]={x[0]}, x[-1]={x[-1]}")
    area = np.sum((y[..., 1:] + y[..., :-1]) * np.diff(x) / 2.0, axis=-1)
    return float(area / span)


def step_counts(tokens: int, steps: int) -> torch.Tensor:
    """Tokens removed after each step: ``round(linspace(0, tokens, steps + 1))``, int64.

    Example:
        >>> step_counts(10, 4).tolist()
        [0, 2, 5, 8, 10]
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return torch.from_numpy(np.rint(np.linspace(0, tokens, steps + 1)).astype(np.int64))


def step_fractions(tokens: int, steps: int) -> np.ndarray:
    """Fraction of tokens removed after each step (the curves' x), ``(steps + 1,)``."""
    return step_counts(tokens, steps).numpy() / max(tokens, 1)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)`` (edge-replicating padding, radius ``3σ``)."""
    if sigma <= 0:
        return images
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-t ** 2 / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum()).view(1, 1, 1, -1).expand(images.shape[1], 1, 1, -1)
    padded = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    rows = F.conv2d(padded, kernel.contiguous(), groups=images.shape[1])
    return F.conv2d(rows, kernel.transpose(-1, -2).contiguous(), groups=images.shape[1])


def fill_like(x: torch.Tensor, kind: str, sigma: float = 1.0) -> torch.Tensor:
    """What replaces removed cells of ``x`` ``(B, C, H, W)``.

    Args:
        x: features or (normalised) images.
        kind: ``"zero"`` (zeros; for ImageNet-normalised images, the ImageNet mean
            colour), ``"mean"`` (each image's per-channel mean) or ``"blur"``
            (:func:`gaussian_blur` with ``sigma``).
        sigma: blur σ in cells of ``x``.

    Returns:
        ``(B, C, H, W)`` or broadcastable ``(B, C, 1, 1)``.
    """
    if kind == "zero":
        return torch.zeros_like(x[:, :, :1, :1])
    if kind == "mean":
        return x.mean(dim=(-2, -1), keepdim=True)
    if kind == "blur":
        return gaussian_blur(x, sigma)
    raise ValueError(f"fill must be one of {FILLS}, got {kind!r}")


def true_class_probability(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``softmax(logits)[target]`` per row: ``(N, K), (N,) → (N,)``."""
    return logits.softmax(-1).gather(1, target.view(-1, 1))[:, 0]


def curve(classify: Classifier, x: torch.Tensor, fill: torch.Tensor, token_ranks: torch.Tensor,
          target: torch.Tensor, expand: Expander, kind: str = "deletion", steps: int = 16,
          max_batch: int = 512) -> torch.Tensor:
    """The true-class probability along one removal order, for a batch.

    Args:
        classify: inputs ``(N, C, H, W)`` → logits ``(N, K)`` (no gradients needed).
        x: ``(B, C, H, W)`` the unmodified inputs (features or images).
        fill: broadcastable to ``x``: what removed cells become (:func:`fill_like`).
        token_ranks: ``(B, h, w)`` int positions, 0 = most important
            (:func:`~ersm.evaluation.rankings.ranks`).
        target: ``(B,)`` true classes.
        expand: token masks ``(N, h, w)`` → broadcastable ``(N, 1, H, W)`` on ``x``'s grid.
        kind: ``"deletion"`` or ``"insertion"`` (see the module docs).
        steps: ``S``; the curve has ``S + 1`` points.
        max_batch: most inputs per call of ``classify`` (steps are chunked).

    Returns:
        ``(S + 1, B)`` probabilities (float64, CPU).
    """
    if kind not in CURVES:
        raise ValueError(f"kind must be one of {CURVES}, got {kind!r}")
    batch, tokens = x.shape[0], token_ranks[0].numel()
    counts = step_counts(tokens, steps).to(token_ranks.device)
    per_call = max(1, max_batch // max(batch, 1))
    out = []
    with torch.no_grad():
        for start in range(0, len(counts), per_call):
            chosen = token_ranks[None] < counts[start:start + per_call, None, None, None]
            n = chosen.shape[0]
            picked = expand(chosen.flatten(0, 1))  # (n·B, 1, H, W)
            xs, fs = x.repeat(n, 1, 1, 1), _repeat(fill, n)
            inputs = torch.where(picked, xs, fs) if kind == "insertion" else \
                torch.where(picked, fs, xs)
            probs = true_class_probability(classify(inputs), target.repeat(n))
            out.append(probs.view(n, batch).double().cpu())
    return torch.cat(out) if out else torch.zeros(0, batch, dtype=torch.float64)


def model_curve(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor,
                scores: torch.Tensor, layer: nn.Module | None = None, kind: str = "deletion",
                steps: int = 16, fill: str | None = None,
                head: Classifier | None = None) -> torch.Tensor:
    """Deletion / insertion curve of any model, at its inputs or at a target layer.

    Args:
        model: any module mapping ``inputs`` to logits ``(B, K)``.
        inputs: ``(B, C, H, W)`` images (or any grid input).
        target: ``(B,)`` int64 true classes.
        scores: ``(B, h, w)`` token importance, higher first (any ranking; ``h ≤ H``).
        layer: None: tokens are removed from ``inputs`` (default fill ``"blur"``, σ = one
            token cell); a submodule: from its output ``(B, C', H', W')`` (default fill
            ``"zero"``), as Captum's layer attributions. Tokens cover cells by
            nearest-neighbour upsampling of the token grid.
        kind: ``"deletion"`` or ``"insertion"``.
        steps: ``S``; the curve has ``S + 1`` points.
        fill: see :func:`fill_like`.
        head: with ``layer``: a faster map from the layer output to logits, if known.

    Returns:
        ``(S + 1, B)`` true-class probabilities (float64, CPU); :func:`auc` of the mean over
        images is the study's AUC.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        >>> model_curve(net, torch.rand(2, 3, 8, 8), torch.tensor([0, 1]),
        ...             torch.rand(2, 4, 4), layer=net[1], steps=4).shape
        torch.Size([5, 2])
    """
    if scores.ndim != 3 or scores.shape[0] != inputs.shape[0]:
        raise ValueError(f"scores must have shape ({inputs.shape[0]}, h, w), got "
                         f"{tuple(scores.shape)}")
    view = layer_view(model, inputs, layer, head) if layer is not None else None
    x = inputs if view is None else view.activation
    size = tuple(x.shape[-2:])
    sigma = size[0] / scores.shape[-2]
    fills = fill_like(x, fill or ("blur" if view is None else "zero"), sigma=sigma)

    def expand(m: torch.Tensor) -> torch.Tensor:
        return F.interpolate(m[:, None].float(), size=size, mode="nearest") > 0.5

    return curve(model if view is None else view.head, x, fills, ranks(scores), target,
                 expand, kind, steps)


def _repeat(fill: torch.Tensor, n: int) -> torch.Tensor:
    return fill.repeat(n, *([1] * (fill.ndim - 1)))


__all__ = ["CURVES", "DEFAULT_FILL", "FILLS", "MODES", "auc", "curve", "fill_like",
           "gaussian_blur", "model_curve", "step_counts", "step_fractions",
           "true_class_probability"]
