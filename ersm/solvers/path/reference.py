"""Reference path solver: divide and conquer over λ with full-grid exact cuts (slow, simple).

For nested canonical minimisers ``A = M(λ₁) ⊋ B = M(λ₂)`` the lines
``E(A) + λ|A|`` and ``E(B) + λ|B|`` meet at ``λ* = (E(B) − E(A)) / (|A| − |B|)``
(exact rationals here). The canonical cut ``C = M(λ*)`` of ``θ + λ*`` (solved exactly
as ``q·θ + p`` with ``λ* = p / q``) is ``A`` iff ``λ*`` is the breakpoint between
``A`` and ``B`` (then every token of ``A \\ B`` has threshold ``λ*``), else it lies
strictly between and both halves recurse. Starts from ``M(−∞) = all``, ``M(+∞) = ∅``.
Each breakpoint costs at most two cuts of the whole grid: a test oracle and the
fallback that the fast solver is checked against.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ...energy.offsets import edge_slices
from ._bk import grid_mincut_batch
from .exact import exact_sum, floor_to_float


def _energy_terms(theta: np.ndarray, pairwise: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The float terms whose sum is ``E(mask)`` (without constant)."""
    height, width = theta.shape
    terms = [theta[mask]]
    for k in range(pairwise.shape[0]):
        src, dst = edge_slices(k, height, width)
        terms.append(pairwise[k][src][mask[src] != mask[dst]])
    return np.concatenate(terms)


def _cut_at(theta: np.ndarray, pairwise: np.ndarray, lam: Fraction) -> np.ndarray:
    """Canonical minimiser of ``E + lam·|m|`` (exact when ``q·θ + p`` is representable)."""
    p, q = lam.numerator, lam.denominator
    unary = np.array([[float(Fraction(float(v)) * q + p) for v in row] for row in theta])
    return grid_mincut_batch(unary[None], (pairwise * float(q))[None])[0]


def path_thresholds_map(theta: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """Thresholds ``(H, W)`` of one map over the whole λ line (all finite)."""
    theta = np.asarray(theta, dtype=np.float64)
    pairwise = np.asarray(pairwise, dtype=np.float64)
    out = np.empty(theta.shape, dtype=np.float64)
    full = np.ones(theta.shape, dtype=bool)
    stack = [(full, ~full)]
    while stack:
        a, b = stack.pop()
        ea = exact_sum(_energy_terms(theta, pairwise, a))
        eb = exact_sum(_energy_terms(theta, pairwise, b))
        lam = (eb - ea) / int(a.sum() - b.sum())
        c = (_cut_at(theta, pairwise, lam) | b) & a
        if np.array_equal(c, a) or np.array_equal(c, b):
            out[a & ~b] = floor_to_float(lam)
        else:
            stack.append((a, c))
            stack.append((c, b))
    return out


def path_thresholds_reference(unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """Thresholds ``(B, H, W)`` for a batch, one map at a time."""
    out = np.empty(np.shape(unary), dtype=np.float64)
    for b in range(out.shape[0]):
        out[b] = path_thresholds_map(unary[b], pairwise[b])
    return out
