"""Reading images and label maps from disk into arrays and tensors.

Every reader names the file it failed on. Images become float tensors in ``[0, 1]``;
mask-like files (binary masks, trimaps, soft segmentations) are read as raw integer
label maps, and the caller decides which values count as object.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError


class ImageReadError(OSError):
    """An image or mask file is missing, truncated or not an image."""


def _open(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError as exc:
        raise ImageReadError(f"image file not found: {path}") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageReadError(f"cannot read image {path}: {exc}") from exc
    return image


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an image file as RGB.

    Args:
        path: any format Pillow reads (PNG, JPEG, ...); grey and palette images are
            converted to RGB, alpha is dropped.

    Returns:
        float32 tensor ``(3, H, W)`` in ``[0, 1]`` on the CPU.

    Raises:
        ImageReadError: the file is missing or unreadable (the message names it).

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> p = Path(tempfile.mkdtemp()) / "a.png"
        >>> Image.new("RGB", (5, 4), (255, 0, 0)).save(p)
        >>> read_image(p).shape
        torch.Size([3, 4, 5])
    """
    rgb = np.asarray(_open(Path(path)).convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().div_(255.0)


def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """Read a mask-like image as raw integer values.

    Grey (``L``, ``I``, ``I;16``), bilevel and palette images give their stored values
    (palette *indices* for ``P``); colour images give the maximum over R, G, B, so any
    non-black pixel is non-zero.

    Args:
        path: a PNG (or other lossless) mask file.

    Returns:
        int64 array ``(H, W)``.

    Raises:
        ImageReadError: the file is missing or unreadable.
    """
    image = _open(Path(path))
    if image.mode not in ("1", "L", "P", "I", "I;16"):
        image = image.convert("RGB")
    values = np.asarray(image).astype(np.int64)
    return values.max(axis=-1) if values.ndim == 3 else values


__all__ = ["ImageReadError", "read_image", "read_label_map"]
