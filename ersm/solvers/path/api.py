"""``solve_path``: thresholds of every canonical minimiser of ``E + λ·Σ m`` in one call."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ...core.arrays import like
from ...core.errors import DTypeError, ValueRangeError
from ...energy.grid import GridEnergy
from ...energy.offsets import OFFSETS
from ...core.checks import check_nonnegative
from .result import PathResult
from .scaling import scale_exponent, scaled_range, unscale_thresholds


def check_lam_range(lam_min: Any, lam_max: Any) -> tuple[float, float]:
    """``(lam_min, lam_max)`` as floats; errors name the argument."""
    for name, value in (("lam_min", lam_min), ("lam_max", lam_max)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise DTypeError(f"{name} must be a real number, got {type(value).__name__}")
        if math.isnan(value):
            raise ValueRangeError(f"{name} must not be NaN")
    lo, hi = float(lam_min), float(lam_max)
    if lo > hi:
        raise ValueRangeError(f"lam_min must be <= lam_max, got lam_min={lo} > lam_max={hi}")
    return lo, hi


def path_thresholds(unary: np.ndarray, pairwise: np.ndarray, lam_min: float = -math.inf,
                    lam_max: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds ``(B, H, W)`` clipped to ``[lam_min, lam_max]`` and cuts per sample ``(B,)``.

    Host float64 C-contiguous validated inputs (the Numba kernel, batch-parallel).
    """
    from .kernel import path_thresholds_batch

    k = scale_exponent(unary, pairwise)  # energies near the float64 limit: solve 2^-k·E
    if k:
        unary, pairwise = np.ldexp(unary, -k), np.ldexp(pairwise, -k)
    t, stats = path_thresholds_batch(unary, pairwise, *scaled_range(lam_min, lam_max, k))
    return clip_to_range(unscale_thresholds(t, k), lam_min, lam_max), stats[:, 0].copy()


def clip_to_range(t: np.ndarray, lam_min: float, lam_max: float) -> np.ndarray:
    """``+inf`` where kept on all of ``[lam_min, lam_max]``, ``-inf`` where dropped on all."""
    t = t.copy()
    t[t >= lam_max] = math.inf
    t[t < lam_min] = -math.inf
    return t


def solve_path(energy: GridEnergy, lam_min: float = -math.inf,
               lam_max: float = math.inf) -> PathResult:
    """Exact regularisation path over the keep cost λ of ``E_λ(m) = E(m) + λ·Σ_i m_i``.

    The canonical (largest) minimisers of ``E_λ`` are nested in λ, so one threshold per
    token describes them all: ``thresholds >= λ`` is the canonical minimiser of ``E_λ``
    at every λ in ``[lam_min, lam_max]``, breakpoints included — the mask ``graphcut``
    returns for ``θ + λ`` wherever that float sum is exact (integer or dyadic energies
    and λ). Elsewhere ``θ + λ`` rounds: at a breakpoint, or within rounding of one, where
    several masks tie exactly, the cut of the rounded sum may pick another of them.

    Args:
        energy: batch of energies (NumPy or torch, any device); weights must be ``>= 0``.
        lam_min, lam_max: the range of keep costs described (default the whole line).

    Returns:
        :class:`PathResult` with ``thresholds`` ``(B, H, W)`` float64 (``(H, W)`` if
        unbatched) of the energy's array type and device. Thresholds are exact: each
        finite one is the float64 rounded *down* from an exact ratio of sums of the
        input values, so ``thresholds >= λ`` holds exactly when the true breakpoint is
        ``>= λ``, for every float λ.

    Raises:
        ValueRangeError: negative weights, NaN range, ``lam_min > lam_max``.

    Example:
        >>> import numpy as np, ersm
        >>> e = ersm.GridEnergy(np.array([[-1.0, 0.5]]), np.full((2, 1, 2), 0.25))
        >>> ersm.solve_path(e).thresholds
        array([[ 0.75, -0.25]])
    """
    if not isinstance(energy, GridEnergy):
        raise TypeError(f"energy must be a GridEnergy, got {type(energy).__name__}")
    check_nonnegative(energy.pairwise, "pairwise", why="solve_path needs non-negative weights",
                      offsets=OFFSETS)
    lo, hi = check_lam_range(lam_min, lam_max)
    unary, pairwise = energy.numpy()
    t, cuts = path_thresholds(unary, pairwise, lo, hi)
    breakpoints = [like(np.unique(t[b][np.isfinite(t[b])]), energy.unary) for b in range(len(t))]
    thresholds = like(t, energy.unary)
    if not energy.batched:
        thresholds, breakpoints = thresholds[0], breakpoints[0]
    return PathResult(thresholds=thresholds, breakpoints=breakpoints, lam_min=lo, lam_max=hi,
                      energy=energy, info={"cuts": cuts})
