"""Occlusion robustness and the spurious-background test, from ground-truth object masks.

- **Object / background occlusion** at levels 10–90 %: a seeded sequence of random boxes
  is laid over each image (:func:`random_boxes`); pixels are occluded in the order the boxes
  reach them (:func:`box_order`), restricted to the region under test, until exactly
  ``round(level · |region|)`` of the region's pixels are covered (:func:`occlusion_mask`).
  Object occlusion leaves the background untouched and vice versa.
- **ROI-only / ROI-masked**: keep only the object (background replaced) or remove the
  object (object replaced). A model that classifies by a spurious background keeps its
  accuracy on ROI-masked images and loses it on ROI-only ones.

Occluded pixels get ``fill`` (default zeros in normalised space: the ImageNet mean colour,
which carries no class tint).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from .rankings import ranks

LEVELS: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
BOXES = 48
BOX_SIDE: tuple[float, float] = (0.1, 0.35)


def random_boxes(count: int, size: tuple[int, int], seed: int, boxes: int = BOXES,
                 side: tuple[float, float] = BOX_SIDE) -> torch.Tensor:
    """Random boxes per image, drawn for the whole split at once (batch-size independent).

    Args:
        count: images.
        size: ``(H, W)`` in pixels.
        seed: generator seed.
        boxes: boxes per image ``M``.
        side: box side range as fractions of the image side.

    Returns:
        ``(count, M, 4)`` int64 ``(top, left, height, width)``, boxes inside the image.
    """
    generator = torch.Generator().manual_seed(int(seed))
    h, w = size
    u = torch.rand((count, boxes, 4), generator=generator, dtype=torch.float64)
    bh = (h * (side[0] + (side[1] - side[0]) * u[..., 2])).long().clamp(1, h)
    bw = (w * (side[0] + (side[1] - side[0]) * u[..., 3])).long().clamp(1, w)
    top = (u[..., 0] * (h - bh + 1)).long().clamp(max=h - 1)
    left = (u[..., 1] * (w - bw + 1)).long().clamp(max=w - 1)
    return torch.stack([top, left, bh, bw], dim=-1)


def box_order(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """When each pixel gets covered: the index of the first box over it, raster order within.

    Args:
        boxes: ``(B, M, 4)`` from :func:`random_boxes`.
        size: ``(H, W)``.

    Returns:
        ``(B, H, W)`` float64 keys (smaller = occluded earlier); pixels no box covers come
        last, in raster order.
    """
    h, w = size
    ys = torch.arange(h).view(1, 1, h, 1)
    xs = torch.arange(w).view(1, 1, 1, w)
    top, left, bh, bw = (boxes[..., i, None, None] for i in range(4))
    cover = (ys >= top) & (ys < top + bh) & (xs >= left) & (xs < left + bw)  # (B, M, H, W)
    first = torch.where(cover.any(1), cover.to(torch.uint8).argmax(1),
                        torch.tensor(boxes.shape[1]))
    raster = torch.arange(h * w, dtype=torch.float64).view(h, w) / (h * w)
    return first.double() + raster


def occlusion_mask(region: torch.Tensor, order: torch.Tensor, fraction: float) -> torch.Tensor:
    """The first ``round(fraction · |region|)`` pixels of ``region`` in ``order``.

    Args:
        region: ``(B, H, W)`` bool pixels that may be occluded.
        order: ``(B, H, W)`` keys from :func:`box_order`.
        fraction: in ``[0, 1]``.

    Returns:
        ``(B, H, W)`` bool, a subset of ``region``.
    """
    key = torch.where(region, order, torch.full_like(order, float("inf")))
    count = torch.round(fraction * region.flatten(1).sum(1).double()).long().view(-1, 1, 1)
    return (ranks(-key) < count) & region


def occlude(images: torch.Tensor, where: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """``images`` ``(B, C, H, W)`` with pixels ``where`` ``(B, H, W)`` set to ``fill``."""
    return torch.where(where[:, None], torch.full_like(images, fill), images)


def occlusion_inputs(images: torch.Tensor, objects: torch.Tensor, order: torch.Tensor,
                     levels: Sequence[float] = LEVELS,
                     fill: float = 0.0) -> Iterator[tuple[str, torch.Tensor]]:
    """Every occluded version of a batch, named as in ``metrics.json``.

    Args:
        images: ``(B, C, H, W)``.
        objects: ``(B, H, W)`` bool object pixels.
        order: ``(B, H, W)`` from :func:`box_order`.
        levels: occluded fractions.
        fill: replacement value.

    Yields:
        ``("object.<level>", images)``, ``("background.<level>", images)`` per level, then
        ``("roi_only", …)`` and ``("roi_masked", …)``.
    """
    for part, region in (("object", objects), ("background", ~objects)):
        for level in levels:
            yield f"{part}.{level:g}", occlude(images, occlusion_mask(region, order, level), fill)
    yield "roi_only", occlude(images, ~objects, fill)
    yield "roi_masked", occlude(images, objects, fill)


__all__ = ["BOXES", "BOX_SIDE", "LEVELS", "box_order", "occlude", "occlusion_inputs",
           "occlusion_mask", "random_boxes"]
