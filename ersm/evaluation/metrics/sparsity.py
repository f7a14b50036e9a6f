"""Sparsity of the learned and solved masks (models with a mask layer only).

Keys: ``sparsity.active_fraction``, ``sparsity.mean_keep_prob``, ``sparsity.entropy`` (of
the learned keep probabilities, see :mod:`ersm.evaluation.sparsity`) and
``sparsity.solved_fraction`` (tokens the solved mask keeps). The keep-probability histogram
is accumulated as ``histogram.keep_prob`` (``metrics.json``'s ``histograms``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..batches import Means
from ..sparsity import SPARSITY_KEYS, keep_histogram, sparsity_stats
from ..tables import md_table
from ._base import BatchContext, Metric


def add_sparsity(means: Means, keep_prob: torch.Tensor, solved: torch.Tensor) -> None:
    """Accumulate ``sparsity.*`` and the keep-probability histogram."""
    for key, values in sparsity_stats(keep_prob).items():
        means.add(f"sparsity.{key}", values)
    means.add("sparsity.solved_fraction", solved.flatten(1).double().mean(1))
    means.add("histogram.keep_prob", keep_histogram(keep_prob)[None])


class Sparsity(Metric):
    """Active fraction, mean keep probability, entropy, solved fraction."""

    name = "sparsity"
    order, report_order = 50, 40
    prefixes = ("sparsity",)
    internal = ("histogram",)
    needs = frozenset({"layer"})
    headline = ("sparsity.active_fraction",)
    bars = ("sparsity.active_fraction",)
    title = "Sparsity"

    def keys(self, settings: Any) -> list[str]:
        return [f"sparsity.{k}" for k in (*SPARSITY_KEYS, "solved_fraction")]

    def update(self, means: Means, ctx: BatchContext) -> None:
        add_sparsity(means, ctx.probe.keep_prob, ctx.solved)

    def section(self, metrics: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        return md_table(["metric", "value"], [[k, v] for k, v in metrics.items()
                                              if k.startswith("sparsity.")])


METRIC = Sparsity()

__all__ = ["METRIC", "Sparsity", "add_sparsity"]
