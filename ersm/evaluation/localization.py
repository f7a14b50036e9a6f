"""Localization against ground-truth object masks on the token grid.

Object masks come down to the token grid by majority (:func:`~ersm.evaluation.probe.
object_tokens`). Per image:

- :func:`iou`: intersection over union of a predicted keep mask and the object tokens
  (used for the solved mask and for the learned mask ``keep_prob > 0.5``);
- :func:`pointing_game`: 1 if the highest-scoring token of a ranking is an object token;
- :func:`top_k_iou`: IoU of a ranking's ``k`` best tokens with the object, ``k`` = the
  object's token count (a mask-free localization score for every ranking);
- :func:`matched_iou`: IoU of the *solved* mask when a keep cost ``ρ`` (``θ → θ + ρ``) makes
  it about as large as the object: the MRF's localization at the object's sparsity, so
  masks that keep everything at ``ρ = 0`` can still be compared. The keep cost comes from
  the exact path (:func:`ersm.solve_path`): of *all* canonical minimisers over ρ, the one
  whose size is closest to the object's (``method="quantiles"``: the former 17 cuts at
  quantile shifts).

Images whose object covers no token (or where prediction and object are both empty) give
NaN and are left out of means.
"""

from __future__ import annotations

import torch

from ..energy.grid import GridEnergy
from ..solvers.api import solve
from ..solvers.path import PathResult, solve_path
from .rankings import ranks
from ..solvers.defaults import DEFAULT_EXACT

SHIFTS = 17


def iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image IoU of bool masks ``(B, h, w)``: ``(B,)`` float64, NaN on an empty union.

    Example:
        >>> a = torch.tensor([[[True, True], [False, False]]])
        >>> iou(a, torch.tensor([[[True, False], [False, False]]])).tolist()
        [0.5]
    """
    inter = (pred & target).flatten(1).sum(1).double()
    union = (pred | target).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(union, float("nan")))


def pointing_game(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image hit (1.0) or miss (0.0) of the top token; NaN where ``target`` is empty.

    Args:
        scores: ``(B, h, w)`` importance (ties: the first in raster order wins).
        target: ``(B, h, w)`` bool object tokens.

    Returns:
        ``(B,)`` float64.
    """
    top = (ranks(scores) == 0).flatten(1)
    hit = (top & target.flatten(1)).any(1).double()
    return torch.where(target.flatten(1).any(1), hit, torch.full_like(hit, float("nan")))


def top_k_iou(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image IoU of the ``k = |target|`` highest-scoring tokens with ``target``: ``(B,)``."""
    k = target.flatten(1).sum(1).view(-1, 1, 1)
    return iou(ranks(scores) < k, target)


def matched_iou(energy: GridEnergy, target: torch.Tensor, shifts: int = SHIFTS,
                backend: str = DEFAULT_EXACT, method: str = "path",
                path: PathResult | None = None) -> torch.Tensor:
    """IoU of the solved mask whose size is closest to the object's, over keep costs.

    ``method="path"`` (default): the exact keep-cost path of each image
    (:func:`ersm.solve_path`, or ``path`` when already solved) gives the canonical
    minimiser whose size is closest to ``|target|`` among *all* keep costs (the smaller
    mask on ties; :meth:`~ersm.solvers.path.PathResult.keep_cost_for_ratio`).
    ``method="quantiles"``: the unaries are shifted by ``−q_j``, the ``j/(J−1)`` quantiles
    of its own θ (``J = shifts``), all ``B·J`` energies are solved with ``backend`` in one
    batched call, and the closest of those ``J`` masks (the smaller shift on ties) is scored.

    Args:
        energy: ``(B, h, w)`` torch token energy.
        target: ``(B, h, w)`` bool object tokens.
        shifts: ``J ≥ 2`` keep costs per image (``quantiles`` only).
        backend: exact solver (``quantiles`` only).
        method: ``"path"`` or ``"quantiles"``.
        path: the path of ``energy`` if already solved (``path`` only).

    Returns:
        ``(B,)`` float64 IoU (NaN where ``target`` is empty).
    """
    if method not in ("path", "quantiles"):
        raise ValueError(f"method must be 'path' or 'quantiles', got {method!r}")
    if method == "path":
        found = path if path is not None else solve_path(energy)
        tokens = target[0].numel()
        ratio = target.flatten(1).sum(1).double().cpu().numpy() / max(tokens, 1)
        best = torch.as_tensor(found.mask_at(found.keep_cost_for_ratio(ratio)))
        best = best.to(target.device)
        return torch.where(target.flatten(1).any(1), iou(best, target),
                           torch.full((target.shape[0],), float("nan"), dtype=torch.float64,
                                      device=target.device))
    theta = torch.as_tensor(energy.unary, dtype=torch.float64)
    pairwise = torch.as_tensor(energy.pairwise, dtype=torch.float64)
    b, h, w = theta.shape
    levels = torch.linspace(0, 1, shifts, dtype=torch.float64)
    cuts = torch.quantile(theta.flatten(1), levels, dim=1).T  # (B, J)
    shifted = (theta[:, None] - cuts[:, :, None, None]).flatten(0, 1)
    weights = pairwise[:, None].expand(b, shifts, *pairwise.shape[1:]).flatten(0, 1)
    masks = solve(GridEnergy(shifted.contiguous(), weights.contiguous(), energy.connectivity),
                  backend=backend).mask.view(b, shifts, h, w)
    gap = (masks.flatten(2).sum(2) - target.flatten(1).sum(1, keepdim=True)).abs()
    best = masks[torch.arange(b), gap.argmin(1)]
    return torch.where(target.flatten(1).any(1), iou(best, target),
                       torch.full((b,), float("nan"), dtype=torch.float64))


__all__ = ["SHIFTS", "iou", "matched_iou", "pointing_game", "top_k_iou"]
