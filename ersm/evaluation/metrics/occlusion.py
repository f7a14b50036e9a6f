"""Accuracy under occlusion of the object or the background, and the ROI tests (images with
an object mask only).

Keys: ``occlusion.object.<level>`` and ``occlusion.background.<level>`` for every level of
``settings.levels`` (formatted ``{level:g}``), ``occlusion.roi_only`` (background removed)
and ``occlusion.roi_masked`` (object removed). See :mod:`ersm.evaluation.occlusion`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..batches import Batch, Means, nan_where
from ..occlusion import box_order, occlusion_inputs
from ..tables import fmt, md_table
from ._base import BatchContext, Metric


def add_occlusion(means: Means, model: nn.Module, batch: Batch, boxes: torch.Tensor,
                  levels: Sequence[float]) -> None:
    """Accumulate ``occlusion.*`` accuracies (images with masks)."""
    if batch.objects is None:
        return
    order = box_order(boxes[batch.index], tuple(batch.images.shape[-2:])).to(batch.images.device)
    with torch.no_grad():
        for key, images in occlusion_inputs(batch.images, batch.objects, order, levels):
            correct = model(images).argmax(1) == batch.labels
            means.add(f"occlusion.{key}", nan_where(correct, batch.has_mask))


class Occlusion(Metric):
    """Occlusion and ROI accuracies (see the module docs)."""

    name = "occlusion"
    order, report_order = 40, 50
    prefixes = ("occlusion",)
    needs = frozenset({"objects"})
    higher_is_better = None  # roi_only should be high, roi_masked low for an object model
    headline = ("occlusion.roi_only", "occlusion.roi_masked")
    bars = ("occlusion.roi_only", "occlusion.roi_masked")
    title = "Occlusion (accuracy)"

    def keys(self, settings: Any) -> list[str]:
        return [f"occlusion.{part}.{level:g}" for part in ("object", "background")
                for level in settings.levels] + ["occlusion.roi_only", "occlusion.roi_masked"]

    def better(self, key: str) -> bool | None:
        return {"occlusion.roi_only": True, "occlusion.roi_masked": False}.get(key)

    def update(self, means: Means, ctx: BatchContext) -> None:
        add_occlusion(means, ctx.model, ctx.batch, ctx.draws.boxes, ctx.settings.levels)

    def section(self, metrics: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        body = md_table(["occluded", "object", "background"],
                        [[f"{level:g}", metrics.get(f"occlusion.object.{level:g}"),
                          metrics.get(f"occlusion.background.{level:g}")]
                         for level in settings["levels"]])
        return body + (f"\nROI only (background removed): "
                       f"{fmt(metrics.get('occlusion.roi_only'))}; "
                       f"ROI masked (object removed): {fmt(metrics.get('occlusion.roi_masked'))}.\n")


METRIC = Occlusion()

__all__ = ["METRIC", "Occlusion", "add_occlusion"]
