"""Exact rational helpers for breakpoints (host side, :class:`fractions.Fraction`)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def floor_to_float(value: Fraction) -> float:
    """The largest float64 ``t`` with ``t <= value`` (exact when representable).

    Rounding down makes ``t >= lam`` equivalent to ``value >= lam`` for every float ``lam``.
    """
    t = float(value)
    if Fraction(t) > value:
        t = math.nextafter(t, -math.inf)
    return t


def exact_sum(values: np.ndarray) -> Fraction:
    """Exact sum of float64 values."""
    return sum((Fraction(float(v)) for v in np.ravel(values)), Fraction(0))
