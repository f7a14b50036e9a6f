"""Backbones in plain torch: :class:`SmallCNN` and ResNet-18/34/50 with torchvision's names.

Every backbone maps images ``(B, C_in, H, W)`` to features ``(B, out_channels, H/s, W/s)``
and has the attributes ``out_channels`` and ``stride`` (``s``).
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(cin: int, cout: int, stride: int = 1,
                 padding_mode: str = "zeros") -> nn.Sequential:
    """3×3 conv (no bias), BN, ReLU: ``(B, cin, H, W) → (B, cout, H/stride, W/stride)``."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False,
                                   padding_mode=padding_mode),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """A small CNN with stride 4.

    Four 3×3 conv–BN–ReLU layers bring the map to stride 4 (receptive field 13 px); each of
    the ``context`` further layers at stride 4 widens the receptive field by 8 px (29 px
    with the default 2), so a token sees enough of an object's outline to tell shapes
    apart when colour and texture carry no class information.

    Args:
        in_channels: image channels.
        width: channels of the first layers (the third and fourth have more).
        out_channels: feature channels.
        context: 3×3 conv–BN–ReLU layers after the fourth, at stride 4 (``≥ 0``).
        padding_mode: of every convolution (``"zeros"``, ``"replicate"``, ...). Zero
            padding gives the map's border cells features of their own (a mean-field
            layer under a keep budget then keeps border rows); ``"replicate"`` trained
            worse in the one run tried (bench/results/masks.md).

    Shape:
        ``(B, in_channels, H, W) → (B, out_channels, ⌈H/4⌉, ⌈W/4⌉)``.

    Example:
        >>> SmallCNN()(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 64, 16, 16])
    """

    stride = 4

    def __init__(self, in_channels: int = 3, width: int = 32, out_channels: int = 64,
                 context: int = 2, padding_mode: str = "zeros") -> None:
        super().__init__()
        if context < 0:
            raise ValueError(f"context must be >= 0, got {context}")
        self.out_channels = out_channels
        chans = [in_channels, width, width, 2 * width, out_channels] + [out_channels] * context
        strides = [1, 2, 1, 2] + [1] * context
        self.features = nn.Sequential(*(conv_bn_relu(a, b, s, padding_mode)
                                        for a, b, s in zip(chans, chans[1:], strides)))

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


__all__ = ["BUILDERS", "BasicBlock", "Bottleneck", "ResNet", "SmallCNN", "conv_bn_relu", "resnet18",
           "resnet34", "resnet50"]
