"""Seeded random energies and oracles for tests, benchmarks and notebooks."""

from __future__ import annotations

import numpy as np

from .energy.grid import GridEnergy
from .energy.offsets import num_channels, valid_edge_mask


def random_grid_energy(batch: int = 2, height: int = 4, width: int = 4, connectivity: int = 4,
                       seed: int = 0, dyadic: bool = False, unary_scale: float = 1.0,
                       pairwise_scale: float = 0.5) -> GridEnergy:
    """Random energy: θ ~ N(0, unary_scale²), w ~ U(0, pairwise_scale); 0 off-grid.

    With ``dyadic=True`` values are multiples of 1/8 in a small range, so every backend
    (int32 ones included) is exact and ties are common.
    """
    rng = np.random.default_rng(seed)
    n_k = num_channels(connectivity)
    unary = rng.normal(0.0, unary_scale, (batch, height, width))
    pairwise = rng.uniform(0.0, pairwise_scale, (batch, n_k, height, width))
    if dyadic:
        unary, pairwise = np.round(unary * 8) / 8, np.round(pairwise * 8) / 8
    pairwise = pairwise * valid_edge_mask(height, width, connectivity)
    return GridEnergy(unary, pairwise, connectivity)


def brute_force_mask(energy: GridEnergy) -> np.ndarray:
    """Global minimiser by enumeration (``H * W ≤ 20``), ``(B, H, W)`` bool NumPy."""
    from .solvers.backends.brute import brute_force_masks

    return brute_force_masks(*energy.numpy())

