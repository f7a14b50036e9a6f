"""Exact (lossless) power-of-two rescaling of float64 capacities to integers.

Integer max-flow codes (scipy's int32 ``maximum_flow``, GCO) are exact only on inputs
that some ``2^s`` maps to integers without rounding and within range. This module finds
that ``s`` or says there is none.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

INT32_LIMIT = 2**31 - 1


def exact_power_of_two_exponent(values: np.ndarray) -> int:
    """Smallest ``s`` such that ``values · 2^s`` are all integers (0 for all-zero input)."""
    x = np.abs(np.asarray(values, np.float64).ravel())
    x = x[x != 0]
    if x.size == 0:
        return 0
    mant, expo = np.frexp(x)  # x = mant * 2**expo, mant in [0.5, 1)
    m_int = (mant * 2.0**53).astype(np.int64)  # exact: 53-bit mantissa
    low_bit = m_int & -m_int
    trailing = np.log2(low_bit.astype(np.float64)).astype(np.int64)
    # x = (m_int >> trailing) * 2**(expo - 53 + trailing)
    return int(np.max(-(expo.astype(np.int64) - 53 + trailing)))


def flow_bound(unary: np.ndarray, pairwise: np.ndarray) -> float:
    """Upper bound on any capacity or flow value of one map's graph."""
    return float(max(np.maximum(unary, 0).sum(), np.maximum(-unary, 0).sum(),
                     np.abs(pairwise).max(initial=0.0)))


def term_bound(unary: np.ndarray, pairwise: np.ndarray) -> float:
    """Largest single energy term (``|θ_i|`` or ``w_ij``) of one map."""
    return float(max(np.abs(unary).max(initial=0.0), np.abs(pairwise).max(initial=0.0)))


def exact_integer_scale(unary: np.ndarray, pairwise: np.ndarray, limit: int = INT32_LIMIT,
                        bound: Callable[[np.ndarray, np.ndarray], float] = flow_bound
                        ) -> int | None:
    """Exponent ``s`` with every capacity ``· 2^s`` an integer and ``bound · 2^s ≤ limit``,
    or None (``bound``: :func:`flow_bound` by default, or :func:`term_bound`)."""
    s = exact_power_of_two_exponent(np.concatenate([unary.ravel(), pairwise.ravel()]))
    if np.ldexp(bound(unary, pairwise), s) > limit:
        return None
    return s


def lossy_integer_scale(unary: np.ndarray, pairwise: np.ndarray, limit: int = INT32_LIMIT,
                        bound: Callable[[np.ndarray, np.ndarray], float] = flow_bound) -> int:
    """Largest ``s`` with ``bound · 2^s ≤ limit`` (values are then rounded: approximate)."""
    bound = bound(unary, pairwise)
    if bound == 0:
        return 0
    return int(np.floor(np.log2(limit / bound)))


def to_integers(values: np.ndarray, exponent: int) -> np.ndarray:
    """``round(values · 2^exponent)`` as int64."""
    return np.rint(np.ldexp(np.asarray(values, np.float64), exponent)).astype(np.int64)
