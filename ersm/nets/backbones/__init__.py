"""Feature-map backbones for the mask layer, and loading their weights from local files.

Every backbone maps images ``(B, C_in, H, W)`` to features ``(B, out_channels, H/s, W/s)``
and has the attributes ``out_channels`` and ``stride`` (``s``):

- :class:`SmallCNN`: six 3×3 conv–BN–ReLU layers, stride 4 (a 64×64 image gives a
  16×16 token grid; receptive field 29 px); trains in minutes on a CPU.
- :func:`resnet18`, :func:`resnet34`, :func:`resnet50`: ResNets written from scratch with
  torchvision's parameter names (a torchvision checkpoint file loads into them), cut
  before pooling; ``stages`` keeps only the first 1–4 residual stages (strides 4, 8, 16,
  32) for larger token grids.
- ``"tv:<name>"`` / ``"timm:<name>"`` in :func:`load_backbone`: torchvision or timm
  models when those packages are installed (``pip install 'ersm[backbones]'``), always
  built with ``pretrained=False``.

Weights only ever come from local files (:func:`load_weights`); nothing is downloaded.

Modules, one job each: :mod:`.architectures` (the plain-torch networks),
:mod:`.checkpoints` (reading and cleaning state dicts, :func:`load_weights`),
:mod:`.freezing` (:func:`freeze`), :mod:`.adapters` (torchvision / timm),
:mod:`.build` (:func:`build_backbone`, :func:`load_backbone` by name).
"""

from .adapters import LastFeature, timm_features, torchvision_features
from .architectures import (
    BUILDERS,
    BasicBlock,
    Bottleneck,
    ResNet,
    SmallCNN,
    conv_bn_relu,
    resnet18,
    resnet34,
    resnet50,
)
from .build import build_backbone, load_backbone
from .checkpoints import (
    CLASSIFIER_PREFIXES,
    STRIP_PREFIXES,
    WeightsError,
    clean_state_dict,
    load_weights,
    read_state_dict,
)
from .freezing import freeze

__all__ = [
    "BUILDERS",
    "BasicBlock",
    "Bottleneck",
    "CLASSIFIER_PREFIXES",
    "LastFeature",
    "ResNet",
    "STRIP_PREFIXES",
    "SmallCNN",
    "WeightsError",
    "build_backbone",
    "clean_state_dict",
    "conv_bn_relu",
    "freeze",
    "load_backbone",
    "load_weights",
    "read_state_dict",
    "resnet18",
    "resnet34",
    "resnet50",
    "timm_features",
    "torchvision_features",
]
