"""NumPy rasterisers for the synthetic datasets: shapes, textures, cluttered backgrounds.

All functions are pure: they take a ``numpy.random.Generator`` where they need one and
return new arrays (RGB float ``(S, S, 3)`` in ``[0, 1]``, masks bool ``(S, S)``).
Edges are hard (no antialiasing), so a drawn mask is exactly the set of pixels painted.
"""

from __future__ import annotations

import colorsys

import numpy as np
from scipy import ndimage

SHAPES: tuple[str, ...] = ("disc", "square", "triangle", "cross", "ring", "diamond")
TEXTURES: tuple[str, ...] = ("solid", "stripes", "checker", "dots")


def hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    """RGB float ``(3,)`` of an HSV colour (hue in turns)."""
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def _frame(size: int, center: tuple[float, float], angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates relative to ``center`` (y, x), rotated by ``angle``."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    dy, dx = yy - center[0], xx - center[1]
    c, s = np.cos(angle), np.sin(angle)
    return c * dx + s * dy, -s * dx + c * dy


def shape_mask(kind: str, size: int, center: tuple[float, float], radius: float,
               angle: float = 0.0) -> np.ndarray:
    """Bool ``(size, size)`` mask of a shape of circumradius about ``radius``."""
    u, v = _frame(size, center, angle)
    if kind == "disc":
        return u * u + v * v <= radius * radius
    if kind == "ring":
        d2 = u * u + v * v
        return (d2 <= radius * radius) & (d2 >= (0.55 * radius) ** 2)
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8 * radius
    if kind == "diamond":
        return np.abs(u) + np.abs(v) <= 1.1 * radius
    if kind == "cross":
        arm = radius / 3
        au, av = np.abs(u), np.abs(v)
        return ((au <= radius) & (av <= arm)) | ((au <= arm) & (av <= radius))
    if kind == "triangle":
        normals = np.pi / 6 + 2 * np.pi * np.arange(3) / 3
        inside = [u * np.cos(a) + v * np.sin(a) <= radius / 2 for a in normals]
        return inside[0] & inside[1] & inside[2]
    raise ValueError(f"unknown shape {kind!r}; expected one of {SHAPES}")


def texture(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Brightness multiplier ``(size, size)`` in ``[0.55, 1]`` with a random phase."""
    yy, xx = np.mgrid[0:size, 0:size]
    period = int(rng.integers(4, 7))
    phase = int(rng.integers(0, period))
    if kind == "solid":
        return np.ones((size, size))
    if kind == "stripes":
        dark = ((xx + yy + phase) // max(1, period // 2)) % 2 == 0
    elif kind == "checker":
        dark = ((xx + phase) // period + (yy + phase) // period) % 2 == 0
    elif kind == "dots":
        dark = ((xx + phase) % period < 2) & ((yy + phase) % period < 2)
    else:
        raise ValueError(f"unknown texture {kind!r}; expected one of {TEXTURES}")
    return np.where(dark, 0.55, 1.0)


def smooth_noise(size: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """Bilinearly upsampled ``cells × cells`` uniform noise, ``(size, size)`` in ``[0, 1]``."""
    low = rng.random((cells, cells))
    up = ndimage.zoom(low, size / cells, order=1, mode="nearest", grid_mode=True)
    return np.clip(up, 0, 1)[:size, :size]


def background(size: int, rng: np.random.Generator, tint: np.ndarray) -> np.ndarray:
    """A tinted, blotchy, noisy background ``(size, size, 3)``."""
    blotches = smooth_noise(size, rng, cells=int(rng.integers(3, 9)))
    grain = rng.normal(0.0, 0.04, (size, size, 3))
    return np.clip(tint * (0.5 + 0.5 * blotches)[..., None] + grain, 0, 1)


def paint(canvas: np.ndarray, mask: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """A copy of ``canvas`` with ``layer`` (``(3,)`` colour or ``(S, S, 3)``) where ``mask``."""
    return np.where(mask[..., None], np.broadcast_to(layer, canvas.shape), canvas)


def distractors(canvas: np.ndarray, rng: np.random.Generator, count: int,
                radius: tuple[float, float]) -> np.ndarray:
    """Paint ``count`` small grey shapes (random kind, place, size) onto a copy of ``canvas``."""
    size = canvas.shape[0]
    for _ in range(count):
        r = rng.uniform(*radius) * size
        center = tuple(rng.uniform(0, size, 2))
        kind = SHAPES[int(rng.integers(len(SHAPES)))]
        grey = rng.uniform(0.15, 0.95)
        mask = shape_mask(kind, size, center, r, rng.uniform(0, 2 * np.pi))
        canvas = paint(canvas, mask, np.full(3, grey))
    return canvas


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float ``[0, 1]`` → uint8 with rounding."""
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


__all__ = ["SHAPES", "TEXTURES", "background", "distractors", "hsv", "paint", "shape_mask",
           "smooth_noise", "texture", "to_uint8"]
