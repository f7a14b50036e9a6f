"""Seeded image-like energies for benchmarks: noisy object masks with contrast weights.

A smooth random field thresholded at 0 gives a blob-shaped object; the "image" is the
object plus Gaussian noise; unaries favour keeping bright tokens and the pairwise
weights are contrast-sensitive. This is the structure of segmentation energies (long
augmenting paths along object boundaries), unlike i.i.d. random weights.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

import ersm


def image_like_energy(batch: int, size: int, connectivity: int = 4, seed: int = 0,
                      noise: float = 0.6, gamma: float = 1.0,
                      quantum: float | None = None) -> ersm.GridEnergy:
    """``batch`` maps of ``size × size``: θ = −(image − 0.5)·2, w = contrast weights.

    ``quantum`` (e.g. ``2**-8``) rounds θ and w to its multiples, so that int32 solvers
    (scipy, GCO) can represent the energy exactly and every solver sees the same one.
    """
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.normal(size=(batch, size, size)), sigma=(0, size / 8, size / 8))
    objects = (field > 0).astype(np.float64)
    image = objects + noise * rng.normal(size=objects.shape)
    unary = -(image - 0.5) * 2.0
    pairwise = ersm.contrast_weights(image[:, None], gamma=gamma, connectivity=connectivity)
    if quantum is not None:
        unary, pairwise = np.round(unary / quantum) * quantum, np.round(pairwise / quantum) * quantum
    return ersm.GridEnergy(unary, pairwise, connectivity)


PICTURES = ("camera", "coins", "astronaut", "coffee", "chelsea", "page", "moon", "rocket")
"""The real-picture set of issue 15 (scikit-image's bundled pictures, 191×384 … 427×640)."""


def grey_picture(name: str) -> np.ndarray:
    """scikit-image picture ``name`` as grey levels in [0, 1], ``(H, W)`` float64."""
    from skimage import color, data

    img = getattr(data, name)()
    if img.ndim == 3:
        return np.asarray(color.rgb2gray(img[..., :3]), dtype=np.float64)
    return np.asarray(img, dtype=np.float64) / 255.0


def picture_energy(images: np.ndarray, connectivity: int, seed: int = 0,
                   noise: float = 0.5) -> ersm.GridEnergy:
    """Energies of grey pictures ``(B, H, W)``: θ = 4·(Otsu − grey) + N(0, noise²) (Otsu per
    picture, bright tokens kept), contrast weights ``exp(−Δ²/2σ²)`` (σ² = mean contrast)."""
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(seed)
    unary = np.stack([4.0 * (threshold_otsu(im) - im) for im in images])
    unary += noise * rng.normal(size=unary.shape)
    pairwise = ersm.contrast_weights(images[:, None], connectivity=connectivity)
    return ersm.GridEnergy(unary, pairwise, connectivity)


def picture_crops(batch: int, size: int, seed: int = 0) -> np.ndarray:
    """``batch`` real (not resized) ``size × size`` crops of the :data:`PICTURES`, cycling
    through them, at seeded random positions; ``(batch, size, size)`` grey levels."""
    rng = np.random.default_rng(seed)
    pictures = [grey_picture(name) for name in PICTURES]
    out = np.empty((batch, size, size))
    for b in range(batch):
        pic = pictures[b % len(pictures)]
        y = int(rng.integers(0, pic.shape[0] - size + 1))
        x = int(rng.integers(0, pic.shape[1] - size + 1))
        out[b] = pic[y:y + size, x:x + size]
    return out
