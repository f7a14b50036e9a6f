"""Joint image/mask transforms in plain torch (no torchvision).

Functional core: :func:`resize`, :func:`crop`, :func:`center_crop`, :func:`pad`,
:func:`hflip`, :func:`normalize` act on one tensor ``(C, H, W)`` or ``(B, C, H, W)``.
The classes apply them to an item dict (``{"image", "mask", ...}``) so that image and
mask stay aligned: geometric transforms move both (images bilinear, masks nearest),
photometric ones touch the image only. Items are not modified in place.

Random transforms draw from a ``torch.Generator`` (give an ``int`` seed or a generator
for reproducible runs; ``None`` uses torch's global generator). With a DataLoader and
several workers, each worker holds its own copy of a seeded generator, so the workers
repeat each other's draws: seed per worker in ``worker_init_fn`` if that matters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .dataset import Item, Transform

Size = int | tuple[int, int]
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def _pair(size: Size, name: str = "size") -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h <= 0 or w <= 0:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return int(h), int(w)


def _batched(x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    if x.ndim not in (3, 4):
        raise ValueError(f"expected a (C, H, W) or (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    return fn(x[None])[0] if x.ndim == 3 else fn(x)


def output_size(height: int, width: int, size: Size) -> tuple[int, int]:
    """Target ``(h, w)`` of :func:`resize`: an ``int`` sets the shorter side, keeping the aspect."""
    if not isinstance(size, int):
        return _pair(size)
    _pair(size)
    if height <= width:
        return size, max(1, round(width * size / height))
    return max(1, round(height * size / width)), size


def resize(x: torch.Tensor, size: Size, mode: str = "bilinear") -> torch.Tensor:
    """Resize ``(C, H, W)`` or ``(B, C, H, W)``.

    Args:
        x: floating tensor.
        size: ``(h, w)``, or an ``int`` for the shorter side (aspect kept).
        mode: ``"bilinear"`` (antialiased when shrinking) for images, ``"nearest"``
            (``nearest-exact``: pixel centres, no shift) for masks.

    Returns:
        tensor ``(C, h, w)`` or ``(B, C, h, w)``, same dtype.

    Example:
        >>> resize(torch.rand(3, 10, 20), 5).shape
        torch.Size([3, 5, 10])
    """
    target = output_size(x.shape[-2], x.shape[-1], size)
    if mode == "bilinear":
        return _batched(x, lambda t: F.interpolate(t, size=target, mode="bilinear",
                                                   align_corners=False, antialias=True))
    if mode == "nearest":
        return _batched(x, lambda t: F.interpolate(t, size=target, mode="nearest-exact"))
    raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")


def crop(x: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """The window ``[top:top+height, left:left+width]`` of the last two dimensions.

    Raises:
        ValueError: the window leaves the image.
    """
    h, w = x.shape[-2:]
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise ValueError(f"crop window (top={top}, left={left}, {height}x{width}) does not fit "
                         f"in a {h}x{w} image")
    return x[..., top:top + height, left:left + width]


def center_crop(x: torch.Tensor, size: Size) -> torch.Tensor:
    """The central ``size`` window (``(h, w)`` or ``int`` for a square); must fit."""
    th, tw = _pair(size)
    h, w = x.shape[-2:]
    return crop(x, (h - th) // 2, (w - tw) // 2, th, tw)


def pad(x: torch.Tensor, padding: int, mode: str = "constant", value: float = 0.0) -> torch.Tensor:
    """Pad the last two dimensions by ``padding`` on every side.

    Args:
        mode: ``"constant"`` (fill ``value``), ``"reflect"`` or ``"replicate"``.
    """
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if padding == 0:
        return x
    sides = (padding,) * 4
    if mode == "constant":
        return F.pad(x, sides, mode="constant", value=value)
    return _batched(x, lambda t: F.pad(t, sides, mode=mode))


def hflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror the last dimension (left ↔ right)."""
    return x.flip(-1)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(x - mean) / std`` per channel of ``(C, H, W)`` or ``(B, C, H, W)``."""
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
    if (std_t <= 0).any():
        raise ValueError(f"std must be positive, got {list(std)}")
    return (x - mean_t) / std_t


def apply_joint(item: Item, image_fn: Callable[[torch.Tensor], torch.Tensor],
                mask_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Item:
    """A copy of ``item`` with ``image_fn`` on the image and ``mask_fn`` on the mask (if any).

    ``mask_fn=None`` uses ``image_fn`` for the mask too; a missing/``None`` mask is kept.
    """
    out = dict(item)
    out["image"] = image_fn(item["image"])
    if item.get("mask") is not None:
        out["mask"] = (mask_fn or image_fn)(item["mask"])
    return out


def make_generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    """A ``torch.Generator`` from a seed; a generator or ``None`` is returned as is."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    return torch.Generator().manual_seed(int(generator))


class Compose:
    """Apply transforms in order: ``Compose([Resize(72), RandomCrop(64)])(item)``."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, item: Item) -> Item:
        for transform in self.transforms:
            item = transform(item)
        return item

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class _Repr:
    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({args})"


class Resize(_Repr):
    """Resize image (bilinear) and mask (nearest); ``int`` size sets the shorter side."""

    def __init__(self, size: Size) -> None:
        self.size = size

    def __call__(self, item: Item) -> Item:
        return apply_joint(item, lambda x: resize(x, self.size, "bilinear"),
                           lambda m: resize(m, self.size, "nearest"))


class CenterCrop(_Repr):
    """Crop the central ``size`` window of image and mask."""

    def __init__(self, size: Size) -> None:
        self.size = size

    def __call__(self, item: Item) -> Item:
        return apply_joint(item, lambda x: center_crop(x, self.size))


class RandomCrop(_Repr):
    """Pad by ``padding`` (image and mask alike; masks pad with 0), then crop ``size`` at random.

    Args:
        size: crop size ``(h, w)`` or ``int``.
        padding: pixels added on every side first.
        padding_mode: ``"constant"`` (zeros), ``"reflect"`` or ``"replicate"``.
        generator: seed or ``torch.Generator`` for the crop position.
    """

    def __init__(self, size: Size, padding: int = 0, padding_mode: str = "constant",
                 generator: torch.Generator | int | None = None) -> None:
        self.size, self.padding, self.padding_mode = size, padding, padding_mode
        self.generator = make_generator(generator)

    def __call__(self, item: Item) -> Item:
        th, tw = _pair(self.size)
        h, w = (s + 2 * self.padding for s in item["image"].shape[-2:])
        if th > h or tw > w:
            raise ValueError(f"crop size {th}x{tw} is larger than the padded image {h}x{w}")
        top = int(torch.randint(0, h - th + 1, (1,), generator=self.generator))
        left = int(torch.randint(0, w - tw + 1, (1,), generator=self.generator))
        return apply_joint(
            item, lambda x: crop(pad(x, self.padding, self.padding_mode), top, left, th, tw))


class RandomHorizontalFlip(_Repr):
    """Mirror image and mask together with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | int | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p
        self.generator = make_generator(generator)

    def __call__(self, item: Item) -> Item:
        if float(torch.rand((), generator=self.generator)) < self.p:
            return apply_joint(item, hflip)
        return dict(item)


class Normalize(_Repr):
    """``(image - mean) / std`` per channel; the mask is untouched. Defaults: ImageNet."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, item: Item) -> Item:
        out: dict[str, Any] = dict(item)
        out["image"] = normalize(item["image"], self.mean, self.std)
        return out


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CenterCrop",
    "Compose",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "Resize",
    "apply_joint",
    "center_crop",
    "crop",
    "hflip",
    "make_generator",
    "normalize",
    "output_size",
    "pad",
    "resize",
]
