"""Exact power-of-two rescaling of an energy for the path kernel's exact arithmetic.

The kernel's exact sums and products (Shewchuk expansions, Dekker's ``two_prod``, whose
split multiplies by ``2^27 + 1``) and its cut capacities ``q·θ' − P`` overflow for values
near the top of the float64 range: without rescaling, an energy of magnitude ``2^1000``
came back with wrong thresholds, and one of ``2^1017`` with every threshold infinite.
Thresholds are homogeneous (scaling every term by ``s > 0`` scales them by ``s``), and a
power of two scales floats exactly, so such an energy is solved as ``2^-k·E`` and its
thresholds scaled back by ``2^k``: the same float64 rounded down from the same exact
ratio.
"""

from __future__ import annotations

import math

import numpy as np

from ...core.arrays import largest_magnitude

__all__ = ["scale_exponent", "scaled_range", "unscale_thresholds"]

#: Largest magnitude solved unscaled: ``2^500`` leaves the kernel's products (at most
#: ``2^27 · 2^35 · 9·2^500`` for any map that fits in memory) far below overflow.
SAFE_EXPONENT = 500


def scale_exponent(unary: np.ndarray, pairwise: np.ndarray) -> int:
    """``k`` such that the energy should be solved as ``2^-k·E``: 0 unless its largest
    magnitude ``M`` exceeds ``2^SAFE_EXPONENT``, else the exponent of ``M`` (the scaled
    energy's largest magnitude lies in ``[1/2, 1)``). Inputs: finite float64 arrays,
    ``pairwise >= 0``. Scaling down is exact unless a value has bits below ``2^(k-1074)``
    (the energy then spans more than ``2^1073``; those bits are rounded)."""
    exponent = math.frexp(largest_magnitude(unary, pairwise))[1]
    return exponent if exponent > SAFE_EXPONENT else 0


def scaled_range(lam_min: float, lam_max: float, k: int) -> tuple[float, float]:
    """The λ range of ``2^-k·E``, rounded outwards (the kernel only uses it to stop early,
    so a wider range is always safe; the caller clips with the original range)."""
    lo = math.ldexp(lam_min, -k)
    hi = math.ldexp(lam_max, -k)
    if math.ldexp(lo, k) > lam_min:
        lo = math.nextafter(lo, -math.inf)
    if math.ldexp(hi, k) < lam_max:
        hi = math.nextafter(hi, math.inf)
    return lo, hi


def unscale_thresholds(t: np.ndarray, k: int) -> np.ndarray:
    """Thresholds of ``2^-k·E`` → those of ``E``: times ``2^k``, exact (no overflow: every
    threshold lies between the smallest and the largest ``-θ_i``, a maximum principle
    of the equivalent total-variation problem)."""
    return t if k == 0 else np.ldexp(t, k)
