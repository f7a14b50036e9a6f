"""torchvision and timm models as backbones (optional: ``pip install 'ersm[backbones]'``).

Both are always built with ``pretrained=False`` / ``weights=None``: weights come from local
files only (:func:`~ersm.nets.backbones.load_weights`).
"""

from __future__ import annotations

import torch
from torch import nn

from ...core.optional import require


class LastFeature(nn.Module):
    """Wrap a timm ``features_only`` model to return only its last feature map."""

    def __init__(self, model: nn.Module, out_channels: int, stride: int) -> None:
        super().__init__()
        self.model, self.out_channels, self.stride = model, out_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[-1]


def torchvision_features(name: str) -> nn.Module:
    models = require("torchvision.models", extra="backbones")
    model = models.get_model(name, weights=None)
    if hasattr(model, "layer4"):  # ResNet family: keep torchvision's names (conv1, layer1, ...)
        model.fc, model.avgpool = nn.Identity(), nn.Identity()
        names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
        features = nn.Sequential()
        for child in names:
            features.add_module(child, getattr(model, child))
    elif hasattr(model, "features"):
        features = model.features
    else:
        raise ValueError(f"torchvision model {name!r} has neither ResNet stages nor .features; "
                         f"wrap it yourself")
    with torch.no_grad():
        probe = features.eval()(torch.zeros(1, 3, 64, 64))
    features.out_channels, features.stride = int(probe.shape[1]), 64 // int(probe.shape[-1])
    return features


def timm_features(name: str) -> nn.Module:
    timm = require("timm", extra="backbones")
    model = timm.create_model(name, pretrained=False, features_only=True, out_indices=(-1,))
    info = model.feature_info
    return LastFeature(model, int(info.channels()[-1]), int(info.reduction()[-1]))


_LastFeature = LastFeature  # the earlier private name

__all__ = ["LastFeature", "timm_features", "torchvision_features"]
