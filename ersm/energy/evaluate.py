"""Functional energy evaluation: discrete, multilinear and total-variation relaxations.

All functions take batched arrays, ``unary (B, H, W)``, ``pairwise (B, K, H, W)``,
``q (B, H, W)``, work on NumPy arrays and torch tensors alike (torch stays
differentiable and on its device) and return ``(B,)``.
"""

from __future__ import annotations

from typing import Any, Callable

from ..core.arrays import is_torch
from .offsets import edge_slices

RELAXATIONS = ("multilinear", "tv")


def _sum_hw(x: Any) -> Any:
    return x.sum(axis=(-2, -1)) if not is_torch(x) else x.sum(dim=(-2, -1))


def _multilinear_cut(a: Any, b: Any) -> Any:
    """Probability that independent Bernoulli(a), Bernoulli(b) differ."""
    return a + b - 2 * a * b


def _tv_cut(a: Any, b: Any) -> Any:
    return abs(a - b)


_CUTS: dict[str, Callable[[Any, Any], Any]] = {"multilinear": _multilinear_cut, "tv": _tv_cut}


def pairwise_term(pairwise: Any, q: Any, kind: str = "multilinear") -> Any:
    """``Σ_k Σ_(y,x) w_k(y,x) · cut(q(y,x), q((y,x)+offset_k))`` per sample, ``(B,)``.

    Weights on edges that leave the grid are ignored.
    """
    cut = _CUTS[kind]
    _, n_k, height, width = pairwise.shape
    total = None
    for k in range(n_k):
        (ys, xs), (yd, xd) = edge_slices(k, height, width)
        w = pairwise[:, k, ys, xs]
        term = _sum_hw(w * cut(q[:, ys, xs], q[:, yd, xd]))
        total = term if total is None else total + term
    return total


def relaxed_energy(unary: Any, pairwise: Any, q: Any, kind: str = "multilinear") -> Any:
    """Relaxed energy of marginals ``q ∈ [0, 1]`` (no constant), ``(B,)``.

    ``multilinear``: ``Σ θ q + Σ w (q_i + q_j − 2 q_i q_j)`` (expected energy);
    ``tv``: ``Σ θ q + Σ w |q_i − q_j|`` (Lovász extension, convex).
    Both equal the discrete energy on integral ``q``.
    """
    if kind not in _CUTS:
        raise ValueError(f"kind must be one of {RELAXATIONS}, got {kind!r}")
    return _sum_hw(unary * q) + pairwise_term(pairwise, q, kind)


def discrete_energy(unary: Any, pairwise: Any, mask: Any) -> Any:
    """Discrete energy ``Σ θ m + Σ w [m_i ≠ m_j]`` (no constant) in float64, ``(B,)``,
    of a mask of 0/1 values (bool or numbers). NumPy: one compiled pass in row sums
    (:func:`~ersm.energy.potts_sum.mask_energy_numpy`)."""
    if is_torch(unary):
        import torch

        u, p = unary.to(torch.float64), pairwise.to(torch.float64)
        m = mask.to(device=unary.device, dtype=torch.float64)
        return relaxed_energy(u, p, m, "tv")
    from .potts_sum import mask_energy_numpy

    return mask_energy_numpy(unary, pairwise, mask)
