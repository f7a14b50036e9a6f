"""Neural front ends: feature backbones, mask layers and the masked classifier.

- :mod:`~ersm.nets.backbones`: :class:`SmallCNN`, :func:`resnet18` / :func:`resnet50`,
  torchvision/timm backbones, :func:`load_backbone` with weights from local files.
- :mod:`~ersm.nets.energy_mask`: :class:`EnergyMaskLayer`, a real MRF over the mask
  solved by any registered backend.
- :mod:`~ersm.nets.ersm_layer`: :class:`ERSMLayer`, the paper's layer (constant pairwise
  term, no coupling between neighbouring masks).
- :mod:`~ersm.nets.classifier`: :class:`MaskedClassifier`, :func:`build_model`.
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
from .classifier import MaskedClassifier, build_model
from .energy_mask import EnergyMaskLayer
from .ersm_layer import ERSMLayer

__all__ = [
    "ERSMLayer",
    "EnergyMaskLayer",
    "MaskedClassifier",
    "ResNet",
    "SmallCNN",
    "WeightsError",
    "build_backbone",
    "build_model",
    "freeze",
    "load_backbone",
    "load_weights",
    "resnet18",
    "resnet34",
    "resnet50",
]
