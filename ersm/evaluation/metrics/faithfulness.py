"""Faithfulness: deletion and insertion curves of every ranking and their areas (AUC).

Keys: ``<kind>_auc.<mode>.<ranking>`` for kind in ``settings.curves``, mode in
``settings.modes`` and every ranking, plus ``<kind>_auc.<mode>.random_std`` (the spread
over the random seeds). Deletion: lower is better; insertion: higher. The mean curves go
to ``metrics.json``'s ``curves`` (:func:`curve_results`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ..batches import Batch, Means
from ..deletion import auc, curve, fill_like, step_fractions
from ..probe import Probe, classify_features, patch_size, tokens_to_cells, tokens_to_pixels
from ..rankings import ranking_names, ranks
from ..tables import auc_cell, md_table
from ._base import BatchContext, Metric, RunContext

NOTES = """\
**How to read the curves.** Tokens are the mask layer's token grid (the feature grid for a
model without a layer). Each ranking scores tokens, higher = more important: `energy` = −θ
(most negative unary first), `magnitude` = L2 norm of the token's features at the layer
input, `random` = uniform (mean ± std over seeds), `gradcam` = Grad-CAM of the true class
on the same features (before its ReLU), `mask` = the solved mask's tokens first, each part
by energy, `path` = tokens by their threshold on the exact keep-cost path (the largest keep
cost at which the exact mask still keeps them; ties by energy), so each step that reaches a
path mask size removes or adds exactly a nested MRF mask. `deletion` removes the most important tokens first (lower AUC = more faithful);
`insertion` adds them first onto a fully removed input (higher = better). The paper's
pruning test (remove the *least* important first; magnitude pruning drops the smallest
norms first; higher = better) gives exactly the insertion inputs in reverse order, so its
AUC equals the insertion AUC. AUC = trapezoid area under the true-class probability over
the removed fraction in [0, 1]. `feature` mode replaces a token's features at the layer
input (zero by default) and re-runs layer and head; `pixel` mode replaces the token's
pixels (blur by default) and re-runs the whole model. `accuracy.solved`: the prediction
when the solved (discrete) mask gates the features in place of the learned gate;
`accuracy.background_(mis)match`: images whose background tint is (not) that of their class.
"""

HEADLINE: tuple[str, ...] = (
    "deletion_auc.feature.energy", "deletion_auc.feature.magnitude",
    "deletion_auc.feature.random", "insertion_auc.feature.energy",
    "insertion_auc.feature.magnitude", "deletion_auc.pixel.energy",
    "deletion_auc.pixel.magnitude", "insertion_auc.pixel.energy",
    "insertion_auc.pixel.magnitude")


def curve_setup(model: nn.Module, p: Probe, images: torch.Tensor, mode: str,
                settings: Any) -> tuple[Any, torch.Tensor, torch.Tensor, Any]:
    """``(classify, inputs, fill, expand)`` of :func:`~ersm.evaluation.deletion.curve`."""
    patch, cells = patch_size(model), tuple(p.features.shape[-2:])
    if mode == "feature":
        return (lambda x: classify_features(model, x), p.features,
                fill_like(p.features, settings.feature_fill),
                lambda m: tokens_to_cells(m, patch, cells)[:, None])
    size = tuple(images.shape[-2:])
    sigma = size[0] * patch / cells[0]  # one token cell, in pixels
    return (model, images, fill_like(images, settings.pixel_fill, sigma=sigma),
            lambda m: tokens_to_pixels(m, size)[:, None])


def add_curves(means: Means, model: nn.Module, p: Probe, batch: Batch, scores: dict[str, Any],
               settings: Any) -> None:
    """Accumulate ``curve.<kind>.<mode>.<ranking>`` (random: ``….random.<seed>``)."""
    for mode in settings.modes:
        classify, x, fill, expand = curve_setup(model, p, batch.images, mode, settings)
        for name, value in scores.items():
            if value is None:
                continue
            named = ([(f"random.{i}", v) for i, v in enumerate(value)] if name == "random"
                     else [(name, value)])
            for key, score in named:
                order = ranks(score)
                for kind in settings.curves:
                    probs = curve(classify, x, fill, order, batch.labels, expand, kind,
                                  settings.steps)
                    means.add(f"curve.{kind}.{mode}.{key}", probs.T)


def curve_results(means: Means, settings: Any,
                  tokens: int) -> tuple[dict[str, float | None], dict[str, list[float]]]:
    """AUCs ``<kind>_auc.<mode>.<ranking>`` and mean curves ``<kind>.<mode>.<ranking>``."""
    x = step_fractions(tokens, settings.steps)
    metrics: dict[str, float | None] = {}
    curves: dict[str, list[float]] = {"x": x.tolist()}
    for kind in settings.curves:
        for mode in settings.modes:
            for name in ranking_names(settings):
                key, base = f"{kind}_auc.{mode}.{name}", f"curve.{kind}.{mode}.{name}"
                if name != "random":
                    y = means.mean(base)
                    metrics[key] = None if y is None else auc(y, x)
                    if y is not None:
                        curves[f"{kind}.{mode}.{name}"] = y.tolist()
                    continue
                ys = [means.mean(f"{base}.{s}") for s in range(settings.seeds)]
                areas = [auc(y, x) for y in ys if y is not None]
                metrics[key] = float(np.mean(areas)) if areas else None
                metrics[f"{key}_std"] = float(np.std(areas)) if areas else None
                if areas:
                    stacked = np.stack([y for y in ys if y is not None])
                    curves[f"{kind}.{mode}.random"] = stacked.mean(0).tolist()
                    curves[f"{kind}.{mode}.random_std"] = stacked.std(0).tolist()
    return metrics, curves


def auc_table(metrics: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """Rows = rankings, columns = ``<kind> (<mode>)``."""
    columns = [(k, m) for k in settings["curves"] for m in settings["modes"]]
    rows = [[name] + [auc_cell(metrics, f"{k}_auc.{m}.{name}") for k, m in columns]
            for name in ranking_names(settings)]
    arrows = {"deletion": "↓", "insertion": "↑"}
    return md_table(["ranking"] + [f"{k} {arrows[k]} ({m})" for k, m in columns], rows)


class Faithfulness(Metric):
    """Deletion / insertion AUCs (see the module docs)."""

    name = "faithfulness"
    version = 2  # 2: the "path" ranking
    order, report_order = 30, 20
    prefixes = ("deletion_auc", "insertion_auc")
    internal = ("curve",)
    headline = HEADLINE
    title = "Faithfulness (AUC)"

    def keys(self, settings: Any) -> list[str]:
        out = []
        for kind in settings.curves:
            for mode in settings.modes:
                for name in ranking_names(settings):
                    out.append(f"{kind}_auc.{mode}.{name}")
                    if name == "random":
                        out.append(f"{kind}_auc.{mode}.random_std")
        return out

    def better(self, key: str) -> bool | None:
        if key.endswith("_std"):
            return None
        return key.startswith("insertion_auc")

    def update(self, means: Means, ctx: BatchContext) -> None:
        add_curves(means, ctx.model, ctx.probe, ctx.batch, ctx.scores, ctx.settings)

    def compute(self, means: Means, ctx: RunContext) -> dict[str, Any]:
        return curve_results(means, ctx.settings, ctx.tokens)[0]

    def section(self, metrics: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        return auc_table(metrics, settings) + "\n" + NOTES


METRIC = Faithfulness()

__all__ = ["HEADLINE", "METRIC", "NOTES", "Faithfulness", "add_curves", "auc_table",
           "curve_results", "curve_setup"]
