"""Energy terms of the token MRF: unaries, pairwise weights and the mask regulariser.

Layout of :mod:`ersm.energy.offsets`: unaries ``(B, h, w)``, weights ``(B, K, h, w)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..energy.evaluate import relaxed_energy
from ..energy.weights import _edge_map, contrast_weights, cosine_weights

PAIRWISE_KINDS: tuple[str, ...] = ("cosine", "contrast", "learned")


def token_unaries(tokens: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                  unary_weight: float = 1.0) -> torch.Tensor:
    """``θ = λ · (vᵀ f + b)`` per token.

    Args:
        tokens: ``(B, C, h, w)``.
        weight: ``(C,)`` projection ``v``.
        bias: ``()`` bias ``b``.
        unary_weight: ``λ``.

    Returns:
        ``(B, h, w)``, the dtype and device of ``tokens``.
    """
    return unary_weight * (torch.einsum("bchw,c->bhw", tokens, weight) + bias)


def learned_weights(tokens: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                    pairwise_weight: float = 1.0, connectivity: int = 4) -> torch.Tensor:
    """Learned non-negative edge weights ``γ · softplus(uᵀ |f_i − f_j| + c)``.

    Args:
        tokens: ``(B, C, h, w)``.
        weight: ``(C,)`` edge head ``u``.
        bias: ``()`` edge head bias ``c``.
        pairwise_weight: ``γ``.
        connectivity: 4 or 8.

    Returns:
        ``(B, K, h, w)``, zero on edges that leave the grid.
    """
    def edge(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.softplus(torch.einsum("bchw,c->bhw", (a - b).abs(), weight) + bias)

    return pairwise_weight * _edge_map(tokens, connectivity, edge)


def token_pairwise(tokens: torch.Tensor, kind: str = "cosine", pairwise_weight: float = 1.0,
                   connectivity: int = 4, edge_weight: torch.Tensor | None = None,
                   edge_bias: torch.Tensor | None = None) -> torch.Tensor:
    """Pairwise weights ``(B, K, h, w)`` of tokens ``(B, C, h, w)`` (differentiable).

    Args:
        tokens: ``(B, C, h, w)``.
        kind: ``"cosine"``, ``"contrast"`` or ``"learned"`` (needs ``edge_weight`` and
            ``edge_bias``, see :func:`learned_weights`).
        pairwise_weight: ``γ ≥ 0``.
        connectivity: 4 or 8.

    Returns:
        ``(B, K, h, w)`` weights ``≥ 0``, zero off-grid.
    """
    if kind == "cosine":
        return cosine_weights(tokens, gamma=pairwise_weight, connectivity=connectivity,
                              channels_last=False)
    if kind == "contrast":
        return contrast_weights(tokens, gamma=pairwise_weight, connectivity=connectivity,
                                channels_last=False)
    if kind == "learned":
        if edge_weight is None or edge_bias is None:
            raise ValueError("pairwise='learned' needs edge_weight and edge_bias")
        return learned_weights(tokens, edge_weight, edge_bias, pairwise_weight, connectivity)
    raise ValueError(f"pairwise must be one of {PAIRWISE_KINDS}, got {kind!r}")


def mask_regularizer(unary: torch.Tensor, pairwise: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Mean relaxed energy per token above the unary-only minimum, a scalar ``≥ 0``.

    ``R = mean_b [E_mult(q_b) − Σ_i min(θ_bi, 0)] / (h · w)`` with
    ``E_mult(q) = Σ θ q + Σ w (q_i + q_j − 2 q_i q_j)``: the cost of disagreeing with each
    token's own preference plus the expected cut. Bounded below (unlike ``E_mult``
    itself, which falls without bound as ``θ → −∞``).

    Args:
        unary: ``(B, h, w)`` θ.
        pairwise: ``(B, K, h, w)`` weights ``≥ 0``.
        q: ``(B, h, w)`` gate in ``[0, 1]``.

    Returns:
        ``()``; 0 for an empty batch.
    """
    if unary.shape[0] == 0:
        return unary.sum() * 0
    q = q.to(unary.dtype)
    floor = unary.clamp(max=0).sum(dim=(-2, -1))
    tokens = unary.shape[-2] * unary.shape[-1]
    return ((relaxed_energy(unary, pairwise, q) - floor) / tokens).mean()


__all__ = ["PAIRWISE_KINDS", "learned_weights", "mask_regularizer", "token_pairwise",
           "token_unaries"]
