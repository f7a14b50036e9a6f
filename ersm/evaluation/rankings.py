"""Token rankings: which tokens a model finds important, most important first.

Each ranking is a score map ``(B, h, w)`` on the token grid, **higher = more important**;
:func:`ranks` turns scores into positions (0 = most important; ties broken by raster order,
so every order is reproducible).

- ``energy``: ``−θ`` (the layer's unaries; the most negative θ, the cheapest token to keep,
  comes first). Undefined (None) for a model without a mask layer.
- ``magnitude``: the L2 norm of the token's features at the layer input (the paper's
  magnitude-pruning baseline keeps large norms and prunes small ones).
- ``random``: i.i.d. uniform scores from a seeded generator (:func:`random_scores`).
- ``gradcam``: Grad-CAM on the same features, ``Σ_c α_c A_c`` with
  ``α_c = mean_(y,x) ∂ logit_target / ∂ A_c`` (:func:`gradcam`), average-pooled to tokens.
  The ranking uses the map *before* Grad-CAM's final ReLU: same order on its positive
  part, and the clipped part is ordered instead of tied.
- ``mask``: the solved discrete mask's tokens first, each part ordered by ``energy``
  (:func:`mask_scores`). Undefined without a mask layer.
- ``path``: the exact keep-cost path of the layer's energy (:func:`ersm.solve_path`):
  tokens by threshold ``t_i`` (the largest keep cost λ at which the canonical minimiser of
  ``E + λ·Σ m`` still keeps token i), ties by ``energy`` (:func:`path_scores`). Every
  prefix whose size is a path mask size is exactly the nested MRF mask ``{t ≥ λ}``.
  Undefined without a mask layer.
- ``integrated_gradients``, ``saliency``, ``occlusion`` (optional, with Captum; chosen by
  ``EvalSettings.attributions``): Captum's attributions on the same features, summed over
  channels and average-pooled to tokens
  (:func:`~ersm.evaluation.attribution.token_scores`).

Every score function also works for any ``nn.Module`` at a target layer: see
:mod:`ersm.evaluation.attribution`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nets.energy_mask import pool_tokens
from .attribution import CAPTUM_METHODS, LayerView, layer_gradcam, layer_view
from .probe import classify_features

RANKINGS: tuple[str, ...] = ("energy", "magnitude", "random", "gradcam", "mask", "path")
"""All ranking names, in report order."""

NEEDS_LAYER: frozenset[str] = frozenset({"energy", "mask", "path"})
"""Rankings that exist only for a model with a mask layer."""


ALL_RANKINGS: tuple[str, ...] = RANKINGS + CAPTUM_METHODS
"""The built-in rankings and the optional Captum attributions (``EvalSettings.attributions``)."""


def ranking_names(settings: object = None) -> tuple[str, ...]:
    """The rankings an evaluation scores: :data:`RANKINGS`, then its ``attributions``.

    Args:
        settings: an :class:`~ersm.evaluation.EvalSettings` or its ``to_dict()`` (None:
            the defaults; a stored result without ``attributions`` has none).

    Example:
        >>> ranking_names({"attributions": ["saliency"]})[-2:]
        ('path', 'saliency')
    """
    if settings is None:
        return RANKINGS
    extra = (settings.get("attributions") if isinstance(settings, dict)
             else getattr(settings, "attributions", None))
    return RANKINGS + tuple(extra or ())


def ranks(scores: torch.Tensor) -> torch.Tensor:
    """Position of every token in its image's importance order.

    Args:
        scores: ``(B, h, w)`` importance, higher first.

    Returns:
        ``(B, h, w)`` int64 in ``[0, h·w)``; 0 = most important; equal scores keep raster
        order.

    Example:
        >>> ranks(torch.tensor([[[0.5, 2.0], [0.5, -1.0]]])).tolist()
        [[[1, 0], [2, 3]]]
    """
    flat = scores.flatten(1)
    order = torch.argsort(-flat, dim=1, stable=True)
    positions = torch.empty_like(order)
    positions.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return positions.view(scores.shape)


def energy_scores(unary: torch.Tensor) -> torch.Tensor:
    """``−θ`` ``(B, h, w)``: most negative unary (cheapest to keep) most important."""
    return -unary


def magnitude_scores(features: torch.Tensor, patch: int = 1) -> torch.Tensor:
    """L2 norm over channels of tokens ``(B, C, H, W)`` pooled by ``patch``: ``(B, h, w)``."""
    return pool_tokens(features, patch).norm(dim=1)


def random_scores(count: int, grid: tuple[int, int], seed: int) -> torch.Tensor:
    """Uniform scores ``(count, h, w)`` from a generator seeded with ``seed``.

    Drawn for the whole split at once, so image ``i`` gets the same order for any batch size.
    """
    generator = torch.Generator().manual_seed(int(seed))
    return torch.rand((count, *grid), generator=generator, dtype=torch.float64)


def gradcam(model: nn.Module, features: torch.Tensor, target: torch.Tensor,
            relu: bool = True, layer: nn.Module | None = None) -> torch.Tensor:
    """Grad-CAM of ``model`` on its layer inputs, or of any model at a target layer.

    Args:
        model: a :class:`~ersm.nets.MaskedClassifier` (any mask layer, or none); with
            ``layer``: any module mapping inputs to logits.
        features: ``(B, C, H, W)`` the mask layer's input (not modified); with ``layer``:
            the model's inputs.
        target: ``(B,)`` int64 class whose logit is explained (e.g. the label).
        relu: apply Grad-CAM's final ReLU (off: the signed map, used for ranking).
        layer: the target layer (Captum's ``LayerGradCam(model, layer)`` convention; see
            :func:`~ersm.evaluation.attribution.layer_view`).

    Returns:
        ``(B, H, W)`` on the feature (or target layer's) grid, detached.

    Example:
        >>> from ersm.nets import build_model
        >>> net = build_model("baseline", backbone_kwargs={"width": 4, "out_channels": 8}).eval()
        >>> gradcam(net, torch.rand(2, 8, 4, 4), torch.tensor([0, 1])).shape
        torch.Size([2, 4, 4])
    """
    view = (layer_view(model, features, layer) if layer is not None
            else LayerView(features.detach(), lambda x: classify_features(model, x)))
    return layer_gradcam(view, target, relu)


def gradcam_scores(model: nn.Module, features: torch.Tensor, target: torch.Tensor,
                   patch: int = 1, layer: nn.Module | None = None) -> torch.Tensor:
    """Signed Grad-CAM (no ReLU) average-pooled to tokens: ``(B, h, w)`` (``layer``: as
    :func:`gradcam`)."""
    cam = gradcam(model, features, target, relu=False, layer=layer)
    return pool_tokens(cam[:, None], patch)[:, 0]


def path_scores(thresholds: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    """Scores ordering tokens by path threshold, ties (tokens entering together) by ``energy``.

    Args:
        thresholds: ``(B, h, w)`` float64 from :func:`ersm.solve_path` (``±inf`` allowed).
        energy: ``(B, h, w)`` energy scores (:func:`energy_scores`), the tie-break.

    Returns:
        ``(B, h, w)`` float64 ``h·w − position``: :func:`ranks` of it is the path order, so
        the first ``|{t ≥ λ}|`` tokens are the canonical minimiser at every λ.

    Example:
        >>> t = torch.tensor([[[1.0, 3.0, 1.0]]], dtype=torch.float64)
        >>> ranks(path_scores(t, torch.tensor([[[0.0, 0.0, 5.0]]]))).tolist()
        [[[2, 0, 1]]]
    """
    t = thresholds.to(torch.float64).flatten(1)
    e = energy.to(torch.float64).flatten(1)
    by_energy = torch.argsort(-e, dim=1, stable=True)
    by_path = torch.argsort(-t.gather(1, by_energy), dim=1, stable=True)
    order = by_energy.gather(1, by_path)  # most important first
    n = t.shape[1]
    scores = torch.empty_like(t)
    scores.scatter_(1, order, (n - torch.arange(n, dtype=torch.float64, device=t.device))
                    .expand_as(t).contiguous())
    return scores.view(thresholds.shape)


def mask_scores(mask: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    """Scores putting the solved mask's tokens first, each part ordered by ``energy``.

    Args:
        mask: ``(B, h, w)`` bool solved mask.
        energy: ``(B, h, w)`` energy scores (:func:`energy_scores`).

    Returns:
        ``(B, h, w)`` float64: ``energy`` shifted above every unmasked token for masked ones.

    Example:
        >>> mask = torch.tensor([[[False, True]]])
        >>> ranks(mask_scores(mask, torch.tensor([[[5.0, -1.0]]]))).tolist()
        [[[1, 0]]]
    """
    energy = energy.to(torch.float64)
    low = energy.flatten(1).min(1).values.view(-1, 1, 1)
    span = energy.flatten(1).max(1).values.view(-1, 1, 1) - low
    return (energy - low) + mask.to(torch.float64) * (span + 1.0)


__all__ = ["ALL_RANKINGS", "NEEDS_LAYER", "RANKINGS", "energy_scores", "gradcam", "gradcam_scores",
           "magnitude_scores", "mask_scores", "path_scores", "random_scores", "ranking_names", "ranks"]
