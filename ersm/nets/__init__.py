"""Neural front ends: feature backbones (and, later, the mask layers).

- :mod:`~ersm.nets.backbones`: :class:`SmallCNN`, :func:`resnet18` / :func:`resnet50`,
  torchvision/timm backbones, :func:`load_backbone` with weights from local files.
"""

from .backbones import (
    ResNet,
    SmallCNN,
    WeightsError,
    build_backbone,
    freeze,
    load_backbone,
    load_weights,
    resnet18,
    resnet34,
    resnet50,
)

__all__ = [
    "ResNet",
    "SmallCNN",
    "WeightsError",
    "build_backbone",
    "freeze",
    "load_backbone",
    "load_weights",
    "resnet18",
    "resnet34",
    "resnet50",
]
