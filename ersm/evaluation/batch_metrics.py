"""Every metric of one batch, accumulated into :class:`~ersm.evaluation.batches.Means`.

:func:`evaluate_batch` runs the model once (:func:`~ersm.evaluation.probe.probe`), solves
the layer's token energy with the evaluation backend, scores the rankings and hands the
batch to every registered metric (:mod:`ersm.evaluation.metrics`) whose needs it meets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..nets.budget import budget_mask
from ..solvers.api import solve
from ..solvers.path import PathResult, solve_path
from .batches import Batch, Keeper, Means, display_images
from .metrics import BatchContext, Draws, update_all
from .metrics.accuracy import add_accuracy
from .metrics.faithfulness import add_curves, curve_setup
from .metrics.localization import add_localization
from .metrics.occlusion import add_occlusion
from .metrics.sparsity import add_sparsity
from .attribution import token_scores
from .probe import Probe, classify_features, patch_size, probe
from .rankings import energy_scores, gradcam_scores, magnitude_scores, mask_scores, path_scores
from .settings import EvalSettings


def ranking_scores(model: nn.Module, p: Probe, labels: torch.Tensor, solved: torch.Tensor | None,
                   randoms: Sequence[torch.Tensor], attributions: Sequence[str] = (),
                   path: PathResult | None = None) -> dict[str, Any]:
    """Scores ``(B, h, w)`` of every ranking (None where undefined; ``random``: one per seed;
    ``attributions``: Captum methods on the same features, see
    :func:`~ersm.evaluation.attribution.token_scores`; ``path``: the layer energy's
    keep-cost path, for the ``path`` ranking)."""
    patch = patch_size(model)
    energy = None if p.unary is None else energy_scores(p.unary)
    out = {"energy": energy, "magnitude": magnitude_scores(p.features, patch),
           "random": list(randoms), "gradcam": gradcam_scores(model, p.features, labels, patch),
           "mask": None if solved is None else mask_scores(solved, energy),
           "path": None if path is None or energy is None
           else path_scores(torch.as_tensor(path.thresholds), energy)}
    for method in attributions:
        out[method] = token_scores(method, model, p.features, labels, patch=patch,
                                   head=lambda x: classify_features(model, x))
    return out


@dataclass
class Found:
    """What the batches accumulate: per-image means, mask panels, landscape energies."""

    means: Means
    panels: Keeper
    landscape: Keeper


def evaluate_batch(model: nn.Module, batch: Batch, grid: tuple[int, int], draws: Draws,
                   settings: EvalSettings, found: Found) -> None:
    """Every metric of one batch, added to ``found``."""
    p = probe(model, batch.images)
    ratio = (settings.keep_ratio if settings.keep_ratio is not None
             else getattr(model.layer, "keep_ratio", None))
    if model.layer is None:
        solved = None
    elif ratio is not None:  # the exact cut of the budget's size (ersm.solve_path)
        solved = budget_mask(p.energy.unary, p.energy.pairwise, ratio)[0]
    else:
        solved = solve(p.energy, backend=settings.backend).mask
    path = None if model.layer is None else solve_path(p.energy)
    scores = ranking_scores(model, p, batch.labels, solved,
                            [r[batch.index] for r in draws.random], settings.attributions, path)
    update_all(found.means, BatchContext(model, p, batch, grid, scores, solved, draws,
                                                 settings, path))
    if solved is not None:
        found.landscape.add(batch.index, unary=p.unary, pairwise=p.pairwise, mask=solved)
    found.panels.add(batch.index, image=display_images(batch.images),
                     gt=None if batch.objects is None else batch.objects.float(),
                     keep_prob=p.keep_prob, solved=solved,
                     gradcam=scores["gradcam"].clamp(min=0), label=batch.labels,
                     pred=p.logits.argmax(1))


__all__ = ["Draws", "Found", "add_accuracy", "add_curves", "add_localization", "add_occlusion",
           "add_sparsity", "curve_setup", "evaluate_batch", "ranking_scores"]
