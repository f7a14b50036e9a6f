"""Image classifiers with an optional mask layer: backbone → mask → pooling → linear.

:func:`build_model` makes the three models compared in the experiments:

- ``"baseline"``: backbone, global average pooling, linear head;
- ``"ersm"``: the paper's :class:`~ersm.nets.ersm_layer.ERSMLayer` after the last stage;
- ``"mrf"``: :class:`~ersm.nets.energy_mask.EnergyMaskLayer` (a solved MRF) there.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import load_backbone
from .energy_mask import EnergyMaskLayer
from .ersm_layer import ERSMLayer

MODELS: tuple[str, ...] = ("baseline", "ersm", "mrf")
BACKBONE_ALIASES: dict[str, str] = {"small": "small_cnn"}


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

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images).mean(dim=(-2, -1)))

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
        backend: solver backend for ``"mrf"`` (default ``"meanfield"``); must be None for
            the others.
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
    if model == "ersm":
        return ERSMLayer(channels, **layer_kwargs)
    return EnergyMaskLayer(channels, backend=backend or "meanfield", **layer_kwargs)


def build_model(model: str = "baseline", backbone: str = "small", backend: str | None = None,
                weights: str | os.PathLike | None = None, freeze: bool = False,
                num_classes: int = 2, backbone_kwargs: dict[str, Any] | None = None,
                layer_kwargs: dict[str, Any] | None = None) -> MaskedClassifier:
    """A :class:`MaskedClassifier` by name.

    Args:
        model: ``"baseline"``, ``"ersm"`` or ``"mrf"``.
        backbone: ``"small"`` (:class:`~ersm.nets.SmallCNN`), ``"resnet18"``,
            ``"resnet34"``, ``"resnet50"``, ``"tv:<name>"``, ``"timm:<name>"``.
        backend: solver backend of the ``"mrf"`` layer (default ``"meanfield"``).
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


__all__ = ["BACKBONE_ALIASES", "MODELS", "MaskedClassifier", "build_model", "make_layer"]
