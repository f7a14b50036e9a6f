"""The :class:`Metric` contract and what a metric sees (one batch, one finished run).

A metric is a small object with capability flags (as TorchMetrics' ``higher_is_better``)
and four hooks, all optional but :meth:`Metric.keys`:

- :meth:`Metric.keys`: every ``metrics.json`` key it owns, for given settings (the keys
  are reported even when undefined: then the value is None);
- :meth:`Metric.update`: add per-image values of one batch to the running
  :class:`~ersm.evaluation.batches.Means` (only called when the batch has what
  :attr:`Metric.needs` names);
- :meth:`Metric.compute`: the values of its keys at the end (default: the mean of every
  key over the images that had it);
- :meth:`Metric.section`: its part of ``report.md``.

``headline`` and ``bars`` name the keys shown in ``ersm compare``'s short table and bar
figure. A key accumulated under a metric's ``prefixes`` but missing from its ``keys`` is an
error (:func:`~ersm.evaluation.metrics.compute_all`), so nothing is silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

NEEDS: frozenset[str] = frozenset({"layer", "objects", "background"})
"""What a batch may lack: a mask layer (solved masks, keep probabilities), object masks,
background-tint classes. Labels and images are always there."""


@dataclass
class Draws:
    """Random draws for the whole split: ``random`` scores ``(N, h, w)`` per seed and
    occlusion ``boxes`` ``(N, M, 4)``."""

    random: list[torch.Tensor]
    boxes: torch.Tensor


@dataclass
class BatchContext:
    """What :meth:`Metric.update` sees of one batch.

    Attributes:
        model: the evaluated model (eval mode).
        probe: its :class:`~ersm.evaluation.probe.Probe` on the batch.
        batch: the :class:`~ersm.evaluation.batches.Batch`.
        grid: token grid ``(h, w)``.
        scores: ranking name → scores ``(B, h, w)`` (None where undefined; ``random``: a
            list, one per seed).
        solved: ``(B, h, w)`` bool exact masks of the layer's energy, or None.
        draws: :class:`Draws` (rows of the whole split; index with ``batch.index``).
        settings: the :class:`~ersm.evaluation.settings.EvalSettings`.
        path: the :class:`~ersm.solvers.path.PathResult` of the layer's energy, or None.
    """

    model: nn.Module
    probe: Any
    batch: Any
    grid: tuple[int, int]
    scores: dict[str, Any]
    solved: torch.Tensor | None
    draws: Draws
    settings: Any
    path: Any = None

    def has(self, need: str) -> bool:
        """Whether this batch has ``need`` (one of :data:`NEEDS`)."""
        if need == "layer":
            return self.solved is not None
        if need == "objects":
            return self.batch.objects is not None
        if need == "background":
            return self.batch.background is not None
        raise ValueError(f"need must be one of {sorted(NEEDS)}, got {need!r}")


@dataclass
class RunContext:
    """What :meth:`Metric.compute` sees at the end of a split.

    Attributes:
        settings: the :class:`~ersm.evaluation.settings.EvalSettings`.
        has_layer: the model has a mask layer.
        tokens: tokens per image ``h·w``.
        model: the evaluated model (None when only recomputing from sums).
        sample: ``(n, 3, S, S)`` a few images of the split (cost timing), or None.
        baseline_accuracy: ``--baseline`` run's accuracy on the same images, or None.
    """

    settings: Any
    has_layer: bool
    tokens: int
    model: nn.Module | None = None
    sample: torch.Tensor | None = None
    baseline_accuracy: float | None = None


class Metric:
    """Base class of an evaluation metric (see the module docs).

    Attributes:
        name: registry key (the module's file name).
        version: bump when the keys or values change (invalidates ``ersm compare``'s cache).
        order: position of its keys, headline and bars among the metrics.
        report_order: position of its section in ``report.md``.
        prefixes: key prefixes it owns (``"accuracy"`` owns ``accuracy`` and
            ``accuracy.*``).
        internal: prefixes of accumulated helper keys it reads but does not report.
        needs: what :meth:`update` requires of a batch (subset of :data:`NEEDS`).
        higher_is_better: True/False, or None when neither (sizes, times).
        headline: keys in the comparison's headline table.
        bars: keys in the comparison's bar figure (values in ``[0, 1]``).
        title: report section title (None: no section).
    """

    name: str = ""
    version: int = 1
    order: int = 100
    report_order: int = 100
    prefixes: tuple[str, ...] = ()
    internal: tuple[str, ...] = ()
    needs: frozenset[str] = frozenset()
    higher_is_better: bool | None = None
    headline: tuple[str, ...] = ()
    bars: tuple[str, ...] = ()
    title: str | None = None

    def keys(self, settings: Any) -> list[str]:
        """Every key this metric reports under ``settings``, in report order."""
        raise NotImplementedError

    def better(self, key: str) -> bool | None:
        """Whether a higher value of ``key`` is better (default :attr:`higher_is_better`)."""
        return self.higher_is_better

    def update(self, means: Any, ctx: BatchContext) -> None:
        """Add this batch's per-image values to ``means`` (default: nothing)."""

    def compute(self, means: Any, ctx: RunContext) -> dict[str, Any]:
        """``{key: float or None}`` for every key of :meth:`keys` (default: image means)."""
        return {key: means.scalar(key) for key in self.keys(ctx.settings)}

    def section(self, metrics: Mapping[str, Any], settings: Mapping[str, Any]) -> str | None:
        """The markdown body of its report section (default: none)."""
        return None

    def owns(self, key: str) -> bool:
        """Whether ``key`` falls under :attr:`prefixes`."""
        return any(key == p or key.startswith(p + ".") for p in self.prefixes)


def present(keys: Sequence[str], metrics: Mapping[str, Any]) -> list[list[Any]]:
    """``[key, value]`` rows of the ``keys`` in ``metrics`` (in the order of ``metrics``)."""
    wanted = set(keys)
    return [[k, v] for k, v in metrics.items() if k in wanted]


__all__ = ["BatchContext", "Draws", "Metric", "NEEDS", "RunContext", "present"]
