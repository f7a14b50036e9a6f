"""Image classifiers with an optional mask layer: backbone → mask → pooling → linear.

:func:`build_model` makes the three models compared in the experiments:

- ``"baseline"``: backbone, global average pooling, linear head;
- ``"ersm"``: the paper's :class:`~ersm.nets.ersm_layer.ERSMLayer` after the last stage;
- ``"mrf"``: :class:`~ersm.nets.energy_mask.EnergyMaskLayer` (a solved MRF) there.
"""

from __future__ import annotations

import inspect

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import load_backbone
from .energy_mask import EnergyMaskLayer
from .budget import BUDGET_TEMPERATURE
from .ersm_layer import ERSMLayer
from .tokens import upsample_tokens
from ..solvers.defaults import DEFAULT_BUDGETED, DEFAULT_RELAXED

MODELS: tuple[str, ...] = ("baseline", "ersm", "mrf")
BACKBONE_ALIASES: dict[str, str] = {"small": "small_cnn"}


def classify_features(model: nn.Module, features: torch.Tensor, mask: torch.Tensor | None = None,
                      use_layer: bool = True, rescale: bool = True) -> torch.Tensor:
    """Logits ``(B, K)`` from layer inputs: the one pooling + head of every classifier.

    ``head(mean_HW(layer(features)))``. With a token ``mask`` ``(B, h, w)`` (a forced mask,
    e.g. a solved one or a deletion test's), the mask replaces the layer's gate: it is
    repeated over each ``patch_size × patch_size`` patch and multiplies the features, and
    with ``rescale`` the pooled features are multiplied by ``N / Σ mask`` per image (``N``
    tokens, ``Σ mask`` clamped at 1e-6), as the paper's deletion test does.

    Args:
        model: anything with ``head`` (``Linear(C, K)``) and ``layer`` (a mask layer with
            ``patch_size``, or None), e.g. a :class:`MaskedClassifier`.
        features: ``(B, C, H, W)`` the layer input (the backbone's output).
        mask: ``(B, h, w)`` token mask, or None for the layer's own.
        use_layer: False: pool the features as they are (the model without its layer).
        rescale: with ``mask``, compensate the kept fraction (see above).

    Returns:
        ``(B, K)`` logits.
    """
    layer = getattr(model, "layer", None) if use_layer else None
    if mask is None:
        masked = features if layer is None else layer(features)
        return model.head(masked.mean(dim=(-2, -1)))
    patch = 1 if layer is None else int(layer.patch_size)
    gate = upsample_tokens(mask.to(features.dtype), patch, features.shape[-2:])
    pooled = (features * gate[:, None]).mean(dim=(-2, -1))
    if rescale:
        kept = mask.to(features.dtype).flatten(1).sum(1, keepdim=True).clamp(min=1e-6)
        pooled = pooled * (mask.shape[-2] * mask.shape[-1] / kept)
    return model.head(pooled)


class MaskedClassifier(nn.Module):
    """Backbone, an optional mask layer after its last stage, global average pooling, linear.

    Args:
        backbone: maps images ``(B, C_in, H, W)`` to features ``(B, C, h, w)``; needs an
            ``out_channels`` attribute.
        layer: a mask layer ``(B, C, h, w) → (B, C, h, w)`` with ``regularizer()``, or None.
        num_classes: outputs of the linear head.

    Shape:
        ``(B, C_in, H, W) → (B, num_classes)`` logits.

    Example:
        >>> from ersm.nets import SmallCNN
        >>> net = MaskedClassifier(SmallCNN(width=4, out_channels=8), ERSMLayer(8), 3)
        >>> logits = net(torch.rand(2, 3, 16, 16))
        >>> logits.shape, net.loss(logits, torch.tensor([0, 2])).ndim
        (torch.Size([2, 3]), 0)
    """

    def __init__(self, backbone: nn.Module, layer: nn.Module | None, num_classes: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.backbone, self.layer = backbone, layer
        self.head = nn.Linear(int(backbone.out_channels), num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Masked features ``(B, C, h, w)`` (the backbone's if there is no layer)."""
        features = self.backbone(images)
        return features if self.layer is None else self.layer(features)

    def classify(self, features: torch.Tensor, mask: torch.Tensor | None = None,
                 use_layer: bool = True, rescale: bool = True) -> torch.Tensor:
        """Logits from backbone features ``(B, C, h, w)``: :func:`classify_features`."""
        return classify_features(self, features, mask, use_layer, rescale)

    def forward(self, images: torch.Tensor, mask: torch.Tensor | None = None,
                rescale: bool = True) -> torch.Tensor:
        """Logits ``(B, K)``; a token ``mask`` ``(B, h, w)`` forces the mask (see
        :func:`classify_features`)."""
        return self.classify(self.backbone(images), mask, rescale=rescale)

    def regularizer(self) -> torch.Tensor | float:
        """The layer's regulariser of the last forward pass (0 without a layer)."""
        return 0.0 if self.layer is None else self.layer.regularizer()

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy plus the layer's regulariser of the same forward pass (scalar)."""
        return F.cross_entropy(logits, labels) + self.regularizer()


def make_layer(model: str, channels: int, backend: str | None = None,
               **layer_kwargs: Any) -> nn.Module | None:
    """The mask layer of ``model``: None, :class:`ERSMLayer` or :class:`EnergyMaskLayer`.

    Args:
        model: one of :data:`MODELS`.
        channels: feature channels.
        backend: solver backend for ``"mrf"`` (default: ``"ste"`` with a ``keep_ratio``,
            :data:`~ersm.solvers.defaults.DEFAULT_BUDGETED`, and then temperature
            :data:`~ersm.nets.budget.BUDGET_TEMPERATURE` unless given; ``"meanfield"``
            without); must be None for the others.
        **layer_kwargs: more layer arguments (e.g. ``patch_size``, ``pairwise``).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if model != "mrf" and backend is not None:
        raise ValueError(f"backend is only used by model='mrf', got backend={backend!r} for "
                         f"model={model!r}")
    if model == "baseline":
        if layer_kwargs:
            raise ValueError(f"model='baseline' has no layer; got {sorted(layer_kwargs)}")
        return None
    layer_class = ERSMLayer if model == "ersm" else EnergyMaskLayer
    accepted = set(inspect.signature(layer_class).parameters) - {"channels", "backend"}
    unknown = sorted(set(layer_kwargs) - accepted)
    if unknown:
        raise ValueError(f"model={model!r} ({layer_class.__name__}) does not take layer "
                         f"options {unknown}; it takes {sorted(accepted)}")
    if model == "ersm":
        return ERSMLayer(channels, **layer_kwargs)
    if backend is None:
        budgeted = layer_kwargs.get("keep_ratio") is not None
        backend = DEFAULT_BUDGETED if budgeted else DEFAULT_RELAXED
        if budgeted:
            layer_kwargs = {"temperature": BUDGET_TEMPERATURE, **layer_kwargs}
    return EnergyMaskLayer(channels, backend=backend, **layer_kwargs)


def build_model(model: str = "baseline", backbone: str = "small", backend: str | None = None,
                weights: str | os.PathLike | None = None, freeze: bool = False,
                num_classes: int = 2, backbone_kwargs: dict[str, Any] | None = None,
                layer_kwargs: dict[str, Any] | None = None) -> MaskedClassifier:
    """A :class:`MaskedClassifier` by name.

    Args:
        model: ``"baseline"``, ``"ersm"`` or ``"mrf"``.
        backbone: ``"small"`` (:class:`~ersm.nets.SmallCNN`), ``"resnet18"``,
            ``"resnet34"``, ``"resnet50"``, ``"tv:<name>"``, ``"timm:<name>"``.
        backend: solver backend of the ``"mrf"`` layer (default: ``"ste"`` with a
            ``keep_ratio`` in ``layer_kwargs``, ``"meanfield"`` without).
        weights: local backbone checkpoint (see :func:`~ersm.nets.load_backbone`).
        freeze: freeze the backbone (no gradients, eval-mode batch norm).
        num_classes: classifier outputs.
        backbone_kwargs: builder arguments (e.g. ``{"stages": 3}``).
        layer_kwargs: mask-layer arguments (e.g. ``{"patch_size": 2}``).

    Returns:
        the model (random head; random backbone unless ``weights``).

    Example:
        >>> net = build_model("mrf", "small", backend="meanfield", num_classes=4)
        >>> type(net.layer).__name__, net.layer.backend
        ('EnergyMaskLayer', 'meanfield')
    """
    net = load_backbone(BACKBONE_ALIASES.get(backbone, backbone), weights=weights, freeze=freeze,
                        **(backbone_kwargs or {}))
    layer = make_layer(model, int(net.out_channels), backend, **(layer_kwargs or {}))
    return MaskedClassifier(net, layer, num_classes)


__all__ = ["BACKBONE_ALIASES", "MODELS", "MaskedClassifier", "build_model", "classify_features",
           "make_layer"]
