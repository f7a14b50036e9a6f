"""Helpers for the data tests: write tiny images and masks with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def save(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 ``(H, W)`` or ``(H, W, 3)`` array as an image (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def block_image(height: int, width: int,
                box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A black RGB image with a white-red box ``(top, left, bottom, right)`` and its mask."""
    image = np.zeros((height, width, 3), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    top, left, bottom, right = box
    image[top:bottom, left:right] = (255, 40, 40)
    mask[top:bottom, left:right] = 255
    return image, mask


@pytest.fixture
def write():
    return save


@pytest.fixture
def block():
    return block_image
