"""Feature-map backbones for the mask layer, and loading their weights from local files.

Every backbone maps images ``(B, C_in, H, W)`` to features ``(B, out_channels, H/s, W/s)``
and has the attributes ``out_channels`` and ``stride`` (``s``):

- :class:`SmallCNN`: four 3×3 conv–BN–ReLU layers, stride 4 (a 64×64 image gives a
  16×16 token grid); trains in minutes on a CPU.
- :func:`resnet18`, :func:`resnet34`, :func:`resnet50`: ResNets written from scratch with
  torchvision's parameter names (a torchvision checkpoint file loads into them), cut
  before pooling; ``stages`` keeps only the first 1–4 residual stages (strides 4, 8, 16,
  32) for larger token grids.
- ``"tv:<name>"`` / ``"timm:<name>"`` in :func:`load_backbone`: torchvision or timm
  models when those packages are installed, always built with ``pretrained=False``.

Weights only ever come from local files (:func:`load_weights`); nothing is downloaded.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

STRIP_PREFIXES: tuple[str, ...] = ("module.", "backbone.", "encoder.", "features.")
CLASSIFIER_PREFIXES: tuple[str, ...] = ("fc.", "classifier.", "head.", "heads.", "last_linear.")


class WeightsError(ValueError):
    """A checkpoint is not a readable state dict, or its names or shapes do not fit the model."""


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3×3 conv (no bias), BN, ReLU: ``(B, cin, H, W) → (B, cout, H/stride, W/stride)``."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """A small CNN with stride 4.

    Args:
        in_channels: image channels.
        width: channels of the first layers (the third and fourth have more).
        out_channels: feature channels.

    Shape:
        ``(B, in_channels, H, W) → (B, out_channels, ⌈H/4⌉, ⌈W/4⌉)``.

    Example:
        >>> SmallCNN()(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 64, 16, 16])
    """

    stride = 4

    def __init__(self, in_channels: int = 3, width: int = 32, out_channels: int = 64) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, width), conv_bn_relu(width, width, 2),
            conv_bn_relu(width, 2 * width), conv_bn_relu(2 * width, out_channels, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1×1 – 3×3 (strided) – 1×1 convolutions with a residual connection (ResNet-50)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(nn.Module):
    """ResNet feature extractor (no pooling or classifier), torchvision parameter names.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        in_channels: image channels.
        stages: how many residual stages to keep (1–4); output stride ``4 · 2^(stages−1)``.
        width: channels of the stem and first stage (64 in the standard nets).

    Shape:
        ``(B, in_channels, H, W) → (B, out_channels, ≈H/stride, ≈W/stride)``.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, ...],
                 in_channels: int = 3, stages: int = 4, width: int = 64) -> None:
        super().__init__()
        if not 1 <= stages <= len(layers):
            raise ValueError(f"stages must be in 1..{len(layers)}, got {stages}")
        self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.stages = stages
        cin = width
        for index in range(stages):
            planes = width * 2 ** index
            stride = 1 if index == 0 else 2
            blocks, cin = self._stage(block, cin, planes, layers[index], stride)
            setattr(self, f"layer{index + 1}", blocks)
        self.out_channels = cin
        self.stride = 4 * 2 ** (stages - 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(block: type[BasicBlock] | type[Bottleneck], cin: int, planes: int, count: int,
               stride: int) -> tuple[nn.Sequential, int]:
        cout = planes * block.expansion
        downsample = None
        if stride != 1 or cin != cout:
            downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm2d(cout))
        blocks = [block(cin, planes, stride, downsample)]
        blocks += [block(cout, planes) for _ in range(count - 1)]
        return nn.Sequential(*blocks), cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for index in range(1, self.stages + 1):
            x = getattr(self, f"layer{index}")(x)
        return x


def resnet18(in_channels: int = 3, stages: int = 4) -> ResNet:
    """ResNet-18 features: 512 channels at stride 32 (``stages=3``: 256 at 16, ...).

    Example:
        >>> resnet18(stages=3)(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 256, 4, 4])
    """
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels, stages)


def resnet34(in_channels: int = 3, stages: int = 4) -> ResNet:
    """ResNet-34 features: 512 channels at stride 32."""
    return ResNet(BasicBlock, (3, 4, 6, 3), in_channels, stages)


def resnet50(in_channels: int = 3, stages: int = 4) -> ResNet:
    """ResNet-50 features: 2048 channels at stride 32 (``stages=3``: 1024 at 16, ...)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), in_channels, stages)


BUILDERS = {"small_cnn": SmallCNN, "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50}


# ---------------------------------------------------------------- weights from local files


def _strip(key: str, prefixes: tuple[str, ...]) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in prefixes:
            if key.startswith(prefix):
                key, stripped = key[len(prefix):], True
    return key


def clean_state_dict(state: Mapping[str, torch.Tensor],
                     expected: set[str] | None = None) -> dict[str, torch.Tensor]:
    """Normalise checkpoint keys: strip wrapper prefixes, drop classifier weights.

    Prefixes ``module.`` (DataParallel), ``backbone.``, ``encoder.`` and ``features.``
    are stripped (repeatedly) unless the key is already one of ``expected``; keys
    starting with ``fc.``, ``classifier.``, ``head.`` ... are dropped.

    Args:
        state: parameter name → tensor.
        expected: the model's own keys (so e.g. ``features.0.weight`` of
            :class:`SmallCNN` is kept as is).

    Returns:
        a new dict.
    """
    expected = expected or set()
    out = {}
    for key, value in state.items():
        name = key if key in expected else _strip(key, STRIP_PREFIXES)
        if not name.startswith(CLASSIFIER_PREFIXES) or name in expected:
            out[name] = value
    return out


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a checkpoint's state dict with ``torch.load(weights_only=True)`` on the CPU.

    Accepts a plain state dict or a dict holding it under ``"state_dict"`` or ``"model"``.

    Raises:
        FileNotFoundError: no such file.
        WeightsError: the file is unreadable or holds no state dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise WeightsError(f"cannot read {path} with torch.load(weights_only=True): {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    if not (isinstance(loaded, Mapping)
            and all(isinstance(v, torch.Tensor) for v in loaded.values())):
        raise WeightsError(f"{path} holds no state dict of tensors (got {type(loaded).__name__}); "
                                   f"expected a state dict or a dict with 'state_dict' or 'model'")
    return dict(loaded)


def _listing(keys: list[str], limit: int = 8) -> str:
    return ", ".join(keys[:limit]) + (f" ... ({len(keys)} in all)" if len(keys) > limit else "")


def load_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> nn.Module:
    """Load a local checkpoint into ``model`` (:func:`read_state_dict`, :func:`clean_state_dict`).

    Args:
        model: the backbone.
        path: a ``.pt``/``.pth`` file written with ``torch.save``.
        strict: raise on missing or unexpected keys; with ``False`` they are reported in
            a warning and the matching tensors are loaded. Shape mismatches always raise.

    Returns:
        ``model`` (for a timm backbone, the weights go into the wrapped network).

    Raises:
        WeightsError: names the missing, unexpected and mis-shaped keys.
    """
    target = model.model if isinstance(model, _LastFeature) else model  # timm: the inner names
    own = target.state_dict()
    state = clean_state_dict(read_state_dict(path), set(own))
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in state if k not in own)
    shapes = sorted(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                    for k in state if k in own and state[k].shape != own[k].shape)
    found = (("shape mismatch (file vs model)", shapes), ("missing", missing),
             ("unexpected", unexpected))
    problems = "; ".join(f"{label}: {_listing(keys)}" for label, keys in found if keys)
    if shapes or (strict and problems):
        raise WeightsError(f"weights in {path} do not fit {type(target).__name__}; {problems}")
    if problems:
        warnings.warn(f"loading {path} into {type(target).__name__}: {problems}", stacklevel=2)
    target.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return model


# ---------------------------------------------------------------- freezing


def _stay_in_eval(module: nn.Module, args: tuple) -> None:
    if module.training:
        module.eval()


def freeze(model: nn.Module) -> nn.Module:
    """Freeze ``model``: no parameter gradients, batch norm (and dropout) in eval mode.

    The model stays in eval mode even when a parent module calls ``.train()``: a
    forward pre-hook switches it back before every call. Returns ``model``.
    """
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    model.eval()
    if not getattr(model, "_ersm_frozen", False):
        model.register_forward_pre_hook(_stay_in_eval)
        model._ersm_frozen = True
    return model


_freeze = freeze  # load_backbone's ``freeze`` argument shadows the function


# ---------------------------------------------------------------- third-party backbones


def _require(module: str, package: str) -> object:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"this backbone needs {package!r}, which is not installed: "
                          f"pip install {package}") from exc


class _LastFeature(nn.Module):
    """Wrap a timm ``features_only`` model to return only its last feature map."""

    def __init__(self, model: nn.Module, out_channels: int, stride: int) -> None:
        super().__init__()
        self.model, self.out_channels, self.stride = model, out_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[-1]


def _torchvision_features(name: str) -> nn.Module:
    models = _require("torchvision.models", "torchvision")
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


def _timm_features(name: str) -> nn.Module:
    timm = _require("timm", "timm")
    model = timm.create_model(name, pretrained=False, features_only=True, out_indices=(-1,))
    info = model.feature_info
    return _LastFeature(model, int(info.channels()[-1]), int(info.reduction()[-1]))


def build_backbone(name: str, **kwargs: object) -> nn.Module:
    """A fresh backbone by name: ``small_cnn``, ``resnet18/34/50``, ``tv:<name>``, ``timm:<name>``.

    ``kwargs`` go to the built-in builders (e.g. ``stages=3``, ``out_channels=128``).
    """
    if name.startswith("tv:"):
        return _torchvision_features(name[3:])
    if name.startswith("timm:"):
        return _timm_features(name[5:])
    if name not in BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(BUILDERS)}, "
                         f"'tv:<name>' (torchvision) or 'timm:<name>'")
    return BUILDERS[name](**kwargs)


def load_backbone(name: str, weights: str | os.PathLike | None = None, freeze: bool = False,
                  strict: bool = True, **kwargs: object) -> nn.Module:
    """Build a backbone, load local weights into it, optionally freeze it.

    Args:
        name: ``"small_cnn"``, ``"resnet18"``, ``"resnet34"``, ``"resnet50"``,
            ``"tv:<torchvision name>"`` or ``"timm:<timm name>"`` (need those packages;
            built with ``pretrained=False``).
        weights: a local checkpoint (plain state dict, or under ``"state_dict"`` /
            ``"model"``; ``module.``/``backbone.`` prefixes and classifier keys are
            handled), or ``None`` for random initialisation.
        freeze: no gradients and eval-mode batch norm (see :func:`freeze`).
        strict: see :func:`load_weights`.
        **kwargs: builder arguments (``stages``, ``in_channels``, ``width``, ``out_channels``).

    Returns:
        the backbone, with ``out_channels`` and ``stride`` attributes.

    Raises:
        ValueError: unknown name. ImportError: torchvision/timm missing (with a hint).
        FileNotFoundError, WeightsError: bad weights file.

    Example:
        >>> net = load_backbone("resnet18", stages=2, freeze=True)
        >>> net.out_channels, net.stride, any(p.requires_grad for p in net.parameters())
        (128, 8, False)
    """
    model = build_backbone(name, **kwargs)
    if weights is not None:
        load_weights(model, weights, strict=strict)
    return _freeze(model) if freeze else model

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "SmallCNN",
    "WeightsError",
    "build_backbone",
    "clean_state_dict",
    "freeze",
    "load_backbone",
    "load_weights",
    "read_state_dict",
    "resnet18",
    "resnet34",
    "resnet50",
]
