"""Model plumbing shared by the metrics: features, token grids and the layer's energy.

Every metric looks at a :class:`~ersm.nets.MaskedClassifier` (backbone → optional mask
layer → average pooling → linear head) through the same few quantities:

- the **layer input** ``features = backbone(images)``, ``(B, C, H, W)``;
- the **token grid** ``h × w`` of the layer (``patch_size × patch_size`` feature cells per
  token; the feature grid itself, ``patch_size = 1``, for a model without a layer);
- the layer's **token energy** (:func:`token_energy`) and learned keep probabilities.

Token values are carried back to feature cells by repeating them over their patch
(:func:`tokens_to_cells`) and to pixels by nearest-neighbour upsampling
(:func:`tokens_to_pixels`); object masks come down to the token grid by majority
(:func:`object_tokens`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..energy.grid import GridEnergy
from ..nets.classifier import classify_features as nets_classify
from ..nets.energy_mask import upsample_tokens


@dataclass
class Probe:
    """One forward pass of a batch (detached).

    Attributes:
        features: ``(B, C, H, W)`` the layer input.
        logits: ``(B, K)``.
        unary: ``(B, h, w)`` the layer's θ (θ < 0 favours keeping), or None without a layer.
        pairwise: ``(B, K', h, w)`` the layer's Potts weights, or None.
        keep_prob: ``(B, h, w)`` the learned keep probabilities, or None.
    """

    features: torch.Tensor
    logits: torch.Tensor
    unary: torch.Tensor | None = None
    pairwise: torch.Tensor | None = None
    keep_prob: torch.Tensor | None = None

    @property
    def energy(self) -> GridEnergy | None:
        """The token energy ``(B, h, w)`` of this pass, or None without a layer."""
        return None if self.unary is None else GridEnergy(self.unary, self.pairwise)


def patch_size(model: nn.Module) -> int:
    """Feature cells per token side: the layer's ``patch_size`` (1 without a layer)."""
    return 1 if model.layer is None else int(model.layer.patch_size)


def token_shape(model: nn.Module, feature_shape: tuple[int, int]) -> tuple[int, int]:
    """Token grid ``(h, w) = (⌈H / p⌉, ⌈W / p⌉)`` of a feature grid ``(H, W)``."""
    p = patch_size(model)
    return -(-feature_shape[0] // p), -(-feature_shape[1] // p)


def classify_features(model: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """Logits ``(B, K)`` from layer inputs ``(B, C, H, W)``: layer (if any), pooling, head
    (:func:`ersm.nets.classifier.classify_features`)."""
    return nets_classify(model, features)


def masked_logits(model: nn.Module, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Logits when a given token mask ``(B, h, w)`` gates the features instead of the layer.

    ``head(mean(features · mask))`` with the mask repeated over each patch: the model's
    prediction with a solved (discrete) mask in place of its learned one.
    """
    return nets_classify(model, features, mask=mask, rescale=False)


def token_energy(layer: nn.Module) -> GridEnergy:
    """The token MRF of the layer's last forward pass (detached torch :class:`GridEnergy`).

    ``EnergyMaskLayer``: its own θ and weights; ``ERSMLayer``: ``θ = z / T`` and 8-connected
    cosine Potts weights (see :meth:`ersm.nets.ERSMLayer.grid_energy`).
    """
    return layer.grid_energy()


def probe(model: nn.Module, images: torch.Tensor) -> Probe:
    """Run ``model`` on ``images`` ``(B, 3, S, S)`` without gradients; see :class:`Probe`."""
    with torch.no_grad():
        features = model.backbone(images)
        logits = classify_features(model, features)
        if model.layer is None:
            return Probe(features, logits)
        energy = token_energy(model.layer)
        return Probe(features, logits, energy.unary, energy.pairwise,
                     model.layer.keep_prob.detach())


def tokens_to_cells(values: torch.Tensor, patch: int, size: tuple[int, int]) -> torch.Tensor:
    """Repeat token values ``(N, h, w)`` over their patches: ``(N, H, W)`` feature cells."""
    return upsample_tokens(values, patch, size)


def tokens_to_pixels(values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour upsampling of token values ``(N, h, w)`` to pixels ``(N, S_h, S_w)``.

    Pixel ``y`` belongs to token ``⌊y · h / S_h⌋`` (exact cells when ``S_h`` is a multiple of
    ``h``, as for a stride-4 backbone without partial patches).
    """
    dtype = values.dtype
    up = F.interpolate(values[:, None].float(), size=size, mode="nearest")[:, 0]
    return up.to(dtype)


def object_tokens(masks: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Object masks ``(B, 1, S, S)`` (or ``(B, S, S)``) → token masks ``(B, h, w)`` by majority.

    A token is object when more than half of its pixels are (area fractions by adaptive
    average pooling).

    Example:
        >>> m = torch.zeros(1, 1, 4, 4); m[..., :2, :] = 1; m[..., 2, 0] = 1
        >>> object_tokens(m, (2, 2)).int().tolist()
        [[[1, 1], [0, 0]]]
    """
    masks = masks if masks.ndim == 4 else masks[:, None]
    return F.adaptive_avg_pool2d(masks.float(), grid)[:, 0] > 0.5


__all__ = ["Probe", "classify_features", "masked_logits", "object_tokens", "patch_size", "probe", "token_energy",
           "token_shape", "tokens_to_cells", "tokens_to_pixels"]
