"""The demo's segmentation model: box prior + colour histograms + contrast-sensitive cut.

A GrabCut-style loop, kept deliberately small:

1. A box around the object is given; pixels outside it are background for sure
   (θ = +:data:`HARD`, i.e. keeping them costs more than any cut could save).
2. Colours are quantised to ``bins³`` RGB cells. The foreground and background colour
   densities are histograms of the pixels currently inside / outside the mask, smoothed
   by a Gaussian of ``smooth`` cells (a kernel density estimate on the grid, so unseen
   but similar colours are not impossible). The first mask is the box itself.
3. Unaries θ = −log p_fg(colour) + log p_bg(colour) (keeping a pixel costs its
   foreground surprise minus its background surprise); pairwise weights are
   :func:`ersm.contrast_weights` (8-connected, strength γ), so the cut follows colour
   edges; :func:`ersm.solve` gives the exact minimiser for the current densities.
4. Re-estimate the densities from the new mask and solve again, until the mask stops
   changing or ``iterations`` rounds are done (typically 3–5 rounds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter

from ..energy.grid import GridEnergy
from ..energy.weights import contrast_weights
from ..solvers.api import solve
from ..solvers.defaults import DEFAULT_EXACT

HARD = 1e3
"""Unary of pixels outside the box: far above any log-density ratio plus cut cost."""


@dataclass
class Segmentation:
    """Result of :func:`box_segment`.

    Attributes:
        mask: ``(H, W)`` bool, True = object.
        energy: energy of ``mask`` under the last round's unaries (float).
        rounds: number of solves.
        seconds: ``{"unaries": …, "solve": …}`` wall time summed over rounds.
    """

    mask: np.ndarray
    energy: float
    rounds: int
    seconds: dict[str, float] = field(default_factory=dict)


def quantise(image: np.ndarray, bins: int) -> np.ndarray:
    """``(H, W, 3)`` floats in ``[0, 1]`` → ``(H, W, 3)`` int cell indices in ``[0, bins)``."""
    return np.clip((image * bins).astype(np.int64), 0, bins - 1)


def colour_log_density(cells: np.ndarray, weights: np.ndarray, bins: int,
                       smooth: float) -> np.ndarray:
    """Log of a smoothed colour histogram, looked up per pixel.

    Args:
        cells: ``(H, W, 3)`` int colour cells from :func:`quantise`.
        weights: ``(H, W)`` pixel weights (the mask or its complement).
        bins: cells per channel.
        smooth: Gaussian σ in cells.

    Returns:
        ``(H, W)`` float64 ``log p(colour)``; uniform when ``weights`` are all 0.
    """
    hist, _ = np.histogramdd(cells.reshape(-1, 3), bins=bins, range=[(0, bins)] * 3,
                             weights=weights.ravel().astype(np.float64))
    hist = gaussian_filter(hist, smooth, mode="constant")
    hist += 1e-3 * hist.mean() + 1e-12  # floor: no colour is impossible
    log_p = np.log(hist / hist.sum())
    return log_p[cells[..., 0], cells[..., 1], cells[..., 2]]


def box_segment(image: np.ndarray, box: np.ndarray, gamma: float = 5.0, bins: int = 16,
                smooth: float = 1.0, iterations: int = 5, backend: str = DEFAULT_EXACT) -> Segmentation:
    """Segment the object inside ``box`` (see the module docstring for the model).

    Args:
        image: ``(H, W, 3)`` float RGB in ``[0, 1]``.
        box: ``(H, W)`` bool, True inside the box that contains the object.
        gamma: strength of the contrast-sensitive pairwise term.
        bins: colour cells per channel.
        smooth: Gaussian σ of the histogram smoothing, in cells.
        iterations: maximum number of re-estimate-and-solve rounds.
        backend: exact solver backend.

    Returns:
        :class:`Segmentation`.
    """
    cells = quantise(image, bins)
    pairwise = contrast_weights(image, gamma=gamma, connectivity=8, channels_last=True)
    mask, energy, rounds = box.copy(), 0.0, 0
    seconds = {"unaries": 0.0, "solve": 0.0}
    for rounds in range(1, iterations + 1):
        start = time.perf_counter()
        theta = (colour_log_density(cells, ~mask, bins, smooth)
                 - colour_log_density(cells, mask, bins, smooth))
        theta[~box] = HARD
        seconds["unaries"] += time.perf_counter() - start
        start = time.perf_counter()
        result = solve(GridEnergy(theta, pairwise), backend=backend)
        seconds["solve"] += time.perf_counter() - start
        changed = bool((result.mask != mask).any())
        mask, energy = np.asarray(result.mask), float(result.energy)
        if not changed:
            break
    return Segmentation(mask, energy, rounds, seconds)
