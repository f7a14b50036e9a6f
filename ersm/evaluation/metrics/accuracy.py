"""Top-1 accuracy: of the model, with the solved mask in place of the learned gate, of a
``--baseline`` run on the same images, and on images whose background tint does (not)
match their class.

Keys: ``accuracy``, ``accuracy.solved``, ``accuracy.background_match``,
``accuracy.background_mismatch``, ``accuracy.baseline``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..batches import Batch, Means, nan_where
from ..probe import Probe, masked_logits
from ..tables import md_table
from ._base import BatchContext, Metric, RunContext

KEYS: tuple[str, ...] = ("accuracy", "accuracy.solved", "accuracy.background_match",
                         "accuracy.background_mismatch", "accuracy.baseline")


def add_accuracy(means: Means, model: nn.Module, p: Probe, batch: Batch,
                 solved: torch.Tensor | None) -> None:
    """Accumulate ``accuracy``, ``accuracy.solved`` and the background-group accuracies."""
    correct = p.logits.argmax(1) == batch.labels
    means.add("accuracy", correct.double())
    if solved is not None:
        with torch.no_grad():
            solved_correct = masked_logits(model, p.features, solved).argmax(1) == batch.labels
        means.add("accuracy.solved", solved_correct.double())
    if batch.background is not None:
        known = batch.background >= 0
        match = batch.background == batch.labels
        means.add("accuracy.background_match", nan_where(correct, known & match))
        means.add("accuracy.background_mismatch", nan_where(correct, known & ~match))


class Accuracy(Metric):
    """Top-1 accuracies (see the module docs)."""

    name = "accuracy"
    order, report_order = 10, 10
    prefixes = ("accuracy",)
    higher_is_better = True
    headline = ("accuracy", "accuracy.solved", "accuracy.background_mismatch")
    bars = ("accuracy", "accuracy.solved")
    title = "Accuracy"

    def keys(self, settings: Any) -> list[str]:
        return list(KEYS)

    def update(self, means: Means, ctx: BatchContext) -> None:
        add_accuracy(means, ctx.model, ctx.probe, ctx.batch, ctx.solved)

    def compute(self, means: Means, ctx: RunContext) -> dict[str, Any]:
        out = {key: means.scalar(key) for key in KEYS[:-1]}
        out["accuracy.baseline"] = ctx.baseline_accuracy
        return out

    def section(self, metrics: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        return md_table(["metric", "value"], [[k, metrics.get(k)] for k in (
            "accuracy", "accuracy.solved", "accuracy.baseline", "accuracy.background_match",
            "accuracy.background_mismatch")])


METRIC = Accuracy()

__all__ = ["KEYS", "METRIC", "Accuracy", "add_accuracy"]
