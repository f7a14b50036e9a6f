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
