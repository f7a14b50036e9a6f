"""Inference cost of the mask layer: FLOPs and wall time per image, with and without it.

Keys: ``cost.flops.{model,without_layer,extra,extra_fraction}``,
``cost.time_ms.{model,without_layer,extra,solve}`` (see :mod:`ersm.evaluation.cost`);
computed once at the end of a split on a sample of its images.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..batches import Means
from ..cost import layer_cost
from ..tables import md_table
from ._base import Metric, RunContext

KEYS: tuple[str, ...] = ("flops.model", "flops.without_layer", "flops.extra",
                         "flops.extra_fraction", "time_ms.model", "time_ms.without_layer",
                         "time_ms.extra", "time_ms.solve")


class Cost(Metric):
    """FLOPs and milliseconds per image (lower is better)."""

    name = "cost"
    order, report_order = 60, 60
    prefixes = ("cost",)
    higher_is_better = False
    title = "Cost (per image)"

    def keys(self, settings: Any) -> list[str]:
        return [f"cost.{k}" for k in KEYS]

    def compute(self, means: Means, ctx: RunContext) -> dict[str, Any]:
        if ctx.model is None or ctx.sample is None:
            return {f"cost.{k}": None for k in KEYS}
        return {f"cost.{k}": v for k, v in
                layer_cost(ctx.model, ctx.sample, ctx.settings.backend).items()}

    def section(self, metrics: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        return md_table(["metric", "value"], [[k, v] for k, v in metrics.items()
                                              if k.startswith("cost.")])


METRIC = Cost()

__all__ = ["KEYS", "METRIC", "Cost"]
