"""Inverse problem: fit unaries so the solved mask reproduces a target, through any backend.

A check that a differentiable backend's gradients are useful for learning (used by the
tests and ``bench/bench_differentiable.py``), and a small template for training through
``ersm.solve``: swap ``backend=`` and nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FitResult:
    """Outcome of :func:`fit_unaries`.

    Attributes:
        unary: ``(B, H, W)`` fitted unaries (detached).
        mask: ``(B, H, W)`` bool, the backend's mask for them.
        steps: optimiser steps taken when the IoU target was first met, or None.
        iou: the smallest per-sample IoU of ``mask`` with the target.
        history: that IoU before every step.
    """

    unary: Any
    mask: Any
    steps: int | None
    iou: float
    history: list[float] = field(default_factory=list)


def mask_iou(mask: Any, target: Any) -> Any:
    """Per-sample intersection over union of ``(B, H, W)`` bool tensors, ``(B,)``."""
    inter = (mask & target).sum(dim=(-2, -1))
    union = (mask | target).sum(dim=(-2, -1))
    return inter / union.clamp(min=1)


def fit_unaries(target: Any, pairwise: Any, backend: str, lr: float = 0.2, budget: int = 100,
                iou: float = 0.95, **options: Any) -> FitResult:
    """Adam on ``Σ (q − target)²`` over the unaries, from zeros, pairwise fixed.

    Args:
        target: ``(B, H, W)`` bool tensor, the mask to reproduce.
        pairwise: ``(B, K, H, W)`` float tensor of fixed weights (its dtype and device
            are used for the unaries).
        backend: a differentiable backend name (``ersm.solve(..., backend=backend)``).
        lr: Adam learning rate.
        budget: most optimiser steps.
        iou: stop once every sample's IoU reaches it.
        **options: backend options.

    Returns:
        :class:`FitResult`.

    Example:
        >>> import torch, ersm
        >>> target = torch.zeros(1, 4, 4, dtype=torch.bool); target[:, 1:3, 1:3] = True
        >>> w = torch.from_numpy(ersm.constant_weights(4, 4, 0.2, batch_size=1))
        >>> fit_unaries(target, w, "meanfield_implicit").iou
        1.0
    """
    import torch

    from ...energy.grid import GridEnergy
    from ..api import solve

    unary = torch.zeros(target.shape, dtype=pairwise.dtype, device=pairwise.device,
                        requires_grad=True)
    optimiser = torch.optim.Adam([unary], lr=lr)
    history: list[float] = []
    for step in range(budget + 1):
        result = solve(GridEnergy(unary, pairwise), backend=backend, **options)
        history.append(float(mask_iou(result.mask, target).min()))
        if history[-1] >= iou or step == budget:
            break
        optimiser.zero_grad()
        ((result.q - target.to(result.q.dtype)) ** 2).sum().backward()
        optimiser.step()
    reached = history[-1] >= iou
    return FitResult(unary.detach(), result.mask, step if reached else None, history[-1], history)
