"""Localization against the dataset's object masks (images with a mask only).

Keys: ``iou.solved`` (the solved mask), ``iou.learned`` (``keep_prob > 0.5``),
``iou.solved_matched`` (the solved mask at the keep cost matching the object's size),
``pointing_game.<ranking>`` and ``iou_topk.<ranking>`` for every ranking. See
:mod:`ersm.evaluation.localization` for the definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..batches import Batch, Means, nan_where
from ..localization import iou, matched_iou, pointing_game, top_k_iou
from ..probe import Probe, object_tokens
from ..rankings import NEEDS_LAYER, ranking_names
from ..tables import md_table
from ._base import BatchContext, Metric, RunContext

MASK_KEYS: tuple[str, ...] = ("iou.solved", "iou.learned", "iou.solved_matched")
FAMILIES: tuple[str, ...] = ("pointing_game", "iou_topk")


def add_localization(means: Means, batch: Batch, grid: tuple[int, int], scores: dict[str, Any],
                     solved: torch.Tensor | None, p: Probe, backend: str,
                     path: Any = None) -> None:
    """Accumulate ``iou.*``, ``iou_topk.*`` and ``pointing_game.*`` (images with masks;
    ``path``: the layer energy's keep-cost path, reused by ``iou.solved_matched``)."""
    if batch.objects is None:
        return
    target = object_tokens(batch.objects, grid)
    if p.unary is not None:
        means.add("iou.solved_matched", nan_where(
            matched_iou(p.energy, target, backend=backend, path=path), batch.has_mask))
    learned = None if p.keep_prob is None else p.keep_prob > 0.5
    for key, pred in (("iou.solved", solved), ("iou.learned", learned)):
        if pred is not None:
            means.add(key, nan_where(iou(pred.bool(), target), batch.has_mask))
    for name, value in scores.items():
        if value is None:
            continue
        for score in (value if name == "random" else [value]):
            means.add(f"pointing_game.{name}", nan_where(pointing_game(score, target),
                                                         batch.has_mask))
            means.add(f"iou_topk.{name}", nan_where(top_k_iou(score, target), batch.has_mask))


class Localization(Metric):
    """IoU, pointing game and top-k IoU (see the module docs)."""

    name = "localization"
    version = 2  # 2: the "path" ranking; iou.solved_matched from the exact path
    order, report_order = 20, 30
    prefixes = ("iou", "pointing_game", "iou_topk")
    needs = frozenset({"objects"})
    higher_is_better = True
    headline = MASK_KEYS
    bars = ("iou.solved", "iou.learned")
    title = "Localization"

    def keys(self, settings: Any) -> list[str]:
        return list(MASK_KEYS) + [f"{family}.{name}" for family in FAMILIES
                                  for name in ranking_names(settings)]

    def update(self, means: Means, ctx: BatchContext) -> None:
        add_localization(means, ctx.batch, ctx.grid, ctx.scores, ctx.solved, ctx.probe,
                         ctx.settings.backend, ctx.path)

    def compute(self, means: Means, ctx: RunContext) -> dict[str, Any]:
        out = super().compute(means, ctx)
        if not ctx.has_layer:
            out.update({f"{family}.{name}": None for family in FAMILIES for name in NEEDS_LAYER
                        if f"{family}.{name}" in out})
        return out

    def section(self, metrics: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        local = md_table(["ranking", "pointing game", "top-k IoU"],
                         [[n, metrics.get(f"pointing_game.{n}"), metrics.get(f"iou_topk.{n}")]
                          for n in ranking_names(settings)])
        return md_table(["mask", "IoU"], [
            ["solved", metrics.get("iou.solved")],
            ["learned (p > 0.5)", metrics.get("iou.learned")],
            ["solved, keep cost matching the object size", metrics.get("iou.solved_matched")],
        ]) + "\n" + local


METRIC = Localization()

__all__ = ["FAMILIES", "MASK_KEYS", "METRIC", "Localization", "add_localization"]
