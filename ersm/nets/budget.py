"""Keep budgets of the mask layers: exact masks of a chosen size, and the training keep cost.

A keep cost ``ρ`` adds ``ρ·Σ m`` to the energy (``θ → θ + ρ``), still a graph-cut energy.
Its canonical minimisers are nested in ``ρ`` (:func:`ersm.solve_path`), so for a keep
*ratio* ``r`` every image has one exact cut whose size is closest to ``r·h·w``:
:func:`budget_mask`. In training, :func:`dual_ascent_step` moves a layer's keep cost so
that the batch mean of its gate meets ``r`` (dual ascent on the constraint
``mean(gate) = r``). :func:`top_ratio_mask` is the coupling-free counterpart: the
``round(r·h·w)`` tokens of highest score.
"""

from __future__ import annotations

import math

import torch

from ..energy.grid import GridEnergy
from ..solvers.path import solve_path

BUDGETS: tuple[str, ...] = ("dual", "loss")  # how training meets a keep ratio

BUDGET_TEMPERATURE = 4.0
"""Surrogate temperature of a budgeted layer trained with its default backend (``ste``).

Under a keep budget the keep cost grows large (ρ ≈ 20–40 on the study's shapes) and |θ|
with it, so a ``T = 1`` sigmoid surrogate has almost no gradient left on tokens away from
the threshold and the selection can stop learning: outline-only shapes, r = 0.15, 20
epochs, solved-mask accuracy 1.000 / 0.630 (seeds 0 / 1) at ``T = 1``, 1.000 / 1.000 at
``T = 4`` (bench/results/masks.md)."""


def check_keep_ratio(ratio: float | None, name: str = "keep_ratio") -> float | None:
    """Return ``ratio`` as a float if it is None or in ``[0, 1]``; ``ValueError`` otherwise."""
    if ratio is None:
        return None
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1] or None, got {ratio!r}")
    if not (0.0 <= float(ratio) <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {ratio}")
    return float(ratio)


def budget_mask(unary: torch.Tensor, pairwise: torch.Tensor,
                ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the exact canonical cut of ``θ + λ_b`` whose size is closest to ``r·h·w``.

    Uses the exact keep-cost path (:func:`ersm.solve_path`): ``λ_b`` is chosen among the
    path's breakpoints, so the mask is a global minimiser of ``E(m) + λ_b·Σ m`` (ties in
    size: the smaller mask). No gradient flows through it.

    Args:
        unary: ``(B, h, w)`` θ.
        pairwise: ``(B, K, h, w)`` weights ``≥ 0``.
        ratio: ``r ∈ [0, 1]``.

    Returns:
        ``(mask, keep_cost)``: ``(B, h, w)`` bool and ``(B,)`` float64 ``λ_b``, on the device
        of ``unary``.

    Example:
        >>> theta = torch.tensor([[[-3.0, -2.0, -1.0, 1.0]]])
        >>> mask, lam = budget_mask(theta, torch.zeros(1, 2, 1, 4), 0.5)
        >>> mask.int().tolist(), lam.tolist()
        ([[[1, 1, 0, 0]]], [2.0])
    """
    ratio = check_keep_ratio(ratio, "ratio")
    energy = GridEnergy(unary.detach().double(), pairwise.detach().double())
    if unary.shape[0] == 0:
        return (torch.zeros(unary.shape, dtype=torch.bool, device=unary.device),
                torch.zeros(0, dtype=torch.float64, device=unary.device))
    path = solve_path(energy)
    lam = path.keep_cost_for_ratio(ratio)
    return path.mask_at(lam), lam


def top_ratio_mask(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    """Per image, the ``round(r·h·w)`` tokens of highest score (ties: lower index first).

    Args:
        scores: ``(B, h, w)``, higher = keep first (e.g. keep probabilities, or ``−θ``).
        ratio: ``r ∈ [0, 1]``.

    Returns:
        ``(B, h, w)`` bool.

    Example:
        >>> top_ratio_mask(torch.tensor([[[0.1, 0.9], [0.5, 0.2]]]), 0.5).int().tolist()
        [[[0, 1], [1, 0]]]
    """
    ratio = check_keep_ratio(ratio, "ratio")
    b, h, w = scores.shape
    k = min(h * w, int(math.floor(ratio * h * w + 0.5)))
    flat = scores.detach().reshape(b, h * w)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, :k]
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask.scatter_(1, order, True)
    return mask.reshape(b, h, w)


def dual_ascent_step(keep_cost: torch.Tensor, gate: torch.Tensor, ratio: float,
                     step: float) -> torch.Tensor:
    """``ρ ← ρ + step · (mean(gate) − r)`` in place (no gradient); returns ``keep_cost``.

    Too many tokens kept raise the keep cost, too few lower it: gradient ascent on the
    Lagrangian dual of ``min loss s.t. mean(gate) = r``. With a mean-field gate,
    ``∂ mean(q) / ∂ρ ≈ −mean(q (1 − q)) / T``, so steps below ``T / mean(q(1 − q))``
    converge without oscillating.

    Args:
        keep_cost: ``()`` buffer ``ρ``.
        gate: ``(B, h, w)`` what multiplied the features.
        ratio: target ``r``.
        step: dual step size ``> 0``.
    """
    if gate.numel() == 0:
        return keep_cost
    with torch.no_grad():
        keep_cost.add_(step * (float(gate.detach().float().mean()) - ratio))
    return keep_cost


def budget_penalty(gate: torch.Tensor, ratio: float, weight: float) -> torch.Tensor:
    """DynamicViT's budget loss ``weight · (mean(gate) − r)²`` (scalar, differentiable).

    The alternative to :func:`dual_ascent_step`: a fixed penalty weight, so the kept share
    settles where the penalty's gradient balances the task loss's, not exactly at ``r``.

    Args:
        gate: ``(B, h, w)`` what multiplied the features.
        ratio: target ``r``.
        weight: penalty weight ``> 0``.

    Example:
        >>> float(budget_penalty(torch.full((1, 2, 2), 0.5), 0.25, 2.0))
        0.125
    """
    return weight * (gate.mean() - ratio) ** 2


__all__ = ["BUDGETS", "BUDGET_TEMPERATURE", "budget_mask", "budget_penalty", "check_keep_ratio",
           "dual_ascent_step", "top_ratio_mask"]
