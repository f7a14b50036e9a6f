"""Every metric of one batch, accumulated into :class:`~ersm.evaluation.batches.Means`.

:func:`evaluate_batch` runs the model once (:func:`~ersm.evaluation.probe.probe`), solves
the layer's token energy with the evaluation backend, scores the rankings and adds the
accuracies, curves, localization, occlusion and sparsity values of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..solvers.api import solve
from .batches import Batch, Keeper, Means, display_images, nan_where
from .deletion import curve, fill_like
from .localization import iou, matched_iou, pointing_game, top_k_iou
from .occlusion import box_order, occlusion_inputs
from .probe import (Probe, classify_features, masked_logits, object_tokens, patch_size, probe,
                    tokens_to_cells, tokens_to_pixels)
from .rankings import energy_scores, gradcam_scores, magnitude_scores, mask_scores, ranks
from .settings import EvalSettings
from .sparsity import keep_histogram, sparsity_stats


def ranking_scores(model: nn.Module, p: Probe, labels: torch.Tensor, solved: torch.Tensor | None,
                   randoms: Sequence[torch.Tensor]) -> dict[str, Any]:
    """Scores ``(B, h, w)`` of every ranking (None where undefined; ``random``: one per seed)."""
    patch = patch_size(model)
    energy = None if p.unary is None else energy_scores(p.unary)
    return {"energy": energy, "magnitude": magnitude_scores(p.features, patch),
            "random": list(randoms), "gradcam": gradcam_scores(model, p.features, labels, patch),
            "mask": None if solved is None else mask_scores(solved, energy)}


def curve_setup(model: nn.Module, p: Probe, images: torch.Tensor, mode: str,
                settings: EvalSettings) -> tuple[Any, torch.Tensor, torch.Tensor, Any]:
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
               settings: EvalSettings) -> None:
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


def add_localization(means: Means, batch: Batch, grid: tuple[int, int], scores: dict[str, Any],
                     solved: torch.Tensor | None, p: Probe, backend: str) -> None:
    """Accumulate ``iou.*``, ``iou_topk.*`` and ``pointing_game.*`` (images with masks)."""
    if batch.objects is None:
        return
    target = object_tokens(batch.objects, grid)
    if p.unary is not None:
        means.add("iou.solved_matched", nan_where(matched_iou(p.energy, target, backend=backend),
                                                  batch.has_mask))
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


@dataclass
class Draws:
    """Random draws for the whole split: ``random`` scores ``(N, h, w)`` per seed and
    occlusion ``boxes`` ``(N, M, 4)``."""

    random: list[torch.Tensor]
    boxes: torch.Tensor


@dataclass
class Found:
    """What the batches accumulate: per-image means, mask panels, landscape energies."""

    means: Means
    panels: Keeper
    landscape: Keeper


def add_sparsity(means: Means, keep_prob: torch.Tensor, solved: torch.Tensor) -> None:
    """Accumulate ``sparsity.*`` and the keep-probability histogram."""
    for key, values in sparsity_stats(keep_prob).items():
        means.add(f"sparsity.{key}", values)
    means.add("sparsity.solved_fraction", solved.flatten(1).double().mean(1))
    means.add("histogram.keep_prob", keep_histogram(keep_prob)[None])


def evaluate_batch(model: nn.Module, batch: Batch, grid: tuple[int, int], draws: Draws,
                   settings: EvalSettings, found: Found) -> None:
    """Every metric of one batch, added to ``found``."""
    p = probe(model, batch.images)
    solved = None if model.layer is None else solve(p.energy, backend=settings.backend).mask
    scores = ranking_scores(model, p, batch.labels, solved,
                            [r[batch.index] for r in draws.random])
    add_accuracy(found.means, model, p, batch, solved)
    add_curves(found.means, model, p, batch, scores, settings)
    add_localization(found.means, batch, grid, scores, solved, p, settings.backend)
    add_occlusion(found.means, model, batch, draws.boxes, settings.levels)
    if solved is not None:
        add_sparsity(found.means, p.keep_prob, solved)
        found.landscape.add(batch.index, unary=p.unary, pairwise=p.pairwise, mask=solved)
    found.panels.add(batch.index, image=display_images(batch.images),
                     gt=None if batch.objects is None else batch.objects.float(),
                     keep_prob=p.keep_prob, solved=solved,
                     gradcam=scores["gradcam"].clamp(min=0), label=batch.labels,
                     pred=p.logits.argmax(1))


__all__ = ["Draws", "Found", "add_accuracy", "add_curves", "add_localization", "add_occlusion",
           "add_sparsity", "curve_setup", "evaluate_batch", "ranking_scores"]
