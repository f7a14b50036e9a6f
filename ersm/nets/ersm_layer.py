"""The paper's Energy-Mask Layer (ERSM, arXiv 2604.06893), reproduced faithfully.

For features ``(B, C, H, W)`` and tokens ``p_i`` (``patch_size × patch_size``
average-pooled cells; the paper uses patch sizes 1 and 2):

- ``p̂_i = p_i / ‖p_i‖`` (L2 over channels);
- ``z_i = wᵀ p̂_i + b`` (the unary logit) and ``keep_i = σ(−z_i / T)``;
- ``E_u,i = λ · softplus(z_i)``;
- ``E_p,i = γ · softplus(Σ_{j ∈ N8(i)} p̂_iᵀ p̂_j)`` over the 8 neighbours, zero padding at
  the borders (a missing neighbour contributes 0 to the sum);
- regulariser ``mean_i(keep_i · (E_u,i + E_p,i))`` (added to the cross-entropy);
- output ``features · keep`` (``keep`` repeated over each patch).

Defaults ``λ = γ = 1e-3``, ``T = 1``.

**How it differs from** :class:`~ersm.nets.energy_mask.EnergyMaskLayer`: here the
"pairwise" term ``E_p,i`` is a *constant per token* (it depends on the features only), so
it never couples the mask values of neighbouring tokens: each ``keep_i`` is an independent
sigmoid of its own logit and no solver is involved. The coherence term only reweights the
sparsity pressure ``keep · E``. ``EnergyMaskLayer`` instead puts a Potts term
``w_ij [m_i ≠ m_j]`` between neighbours and solves the resulting MRF, so neighbouring
decisions are made jointly. :meth:`ERSMLayer.grid_energy` gives the MRF this layer's
quantities imply (``θ = z / T``, 8-connected cosine weights), to compare its learned
``keep`` with a solved mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..energy.grid import GridEnergy
from ..energy.weights import cosine_weights
from .energy_mask import (RecordingLayer, check_features, check_patch_size, from_last, last_output,
                          pool_tokens, upsample_tokens)


def neighbour_similarity(tokens: torch.Tensor) -> torch.Tensor:
    """``Σ_{j ∈ N8(i)} p̂_iᵀ p̂_j`` of L2-normalised tokens, zero padding at the borders.

    Args:
        tokens: ``(B, C, h, w)`` normalised tokens ``p̂``.

    Returns:
        ``(B, h, w)``.
    """
    window = F.avg_pool2d(tokens, 3, 1, 1, count_include_pad=True) * 9  # 3×3 sums, 0-padded
    return (tokens * (window - tokens)).sum(1)


@dataclass
class ERSMOutput:
    """What :func:`ersm_mask` computed (token grid ``h × w``).

    Attributes:
        features: ``(B, C, H, W)`` masked features.
        unary: ``(B, h, w)`` logits ``z``.
        keep_prob: ``(B, h, w)`` ``σ(−z / T)``.
        unary_energy: ``(B, h, w)`` ``E_u``.
        pairwise_energy: ``(B, h, w)`` ``E_p``.
        tokens: ``(B, C, h, w)`` normalised tokens ``p̂``.
    """

    features: torch.Tensor
    unary: torch.Tensor
    keep_prob: torch.Tensor
    unary_energy: torch.Tensor
    pairwise_energy: torch.Tensor
    tokens: torch.Tensor

    @property
    def energy(self) -> torch.Tensor:
        """``(B, h, w)`` per-token energy ``E_u + E_p``."""
        return self.unary_energy + self.pairwise_energy

    def regularizer(self) -> torch.Tensor:
        """``mean(keep · (E_u + E_p))`` over batch and tokens (scalar)."""
        return (self.keep_prob * self.energy).mean()


def ersm_mask(features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
              patch_size: int = 1, temperature: float = 1.0, unary_weight: float = 1e-3,
              pairwise_weight: float = 1e-3, eps: float = 1e-12) -> ERSMOutput:
    """The paper's energy mask (functional form of :class:`ERSMLayer`).

    Args:
        features: ``(B, C, H, W)`` float.
        weight: ``(C,)`` ``w``; bias: ``()`` ``b``.
        patch_size: token side in feature cells.
        temperature: ``T > 0``.
        unary_weight, pairwise_weight: ``λ`` and ``γ``.
        eps: guards the L2 normalisation of zero tokens.

    Returns:
        :class:`ERSMOutput`.

    Example:
        >>> out = ersm_mask(torch.rand(1, 4, 3, 3), torch.zeros(4), torch.tensor(0.0))
        >>> out.keep_prob.unique().tolist(), out.features.shape
        ([0.5], torch.Size([1, 4, 3, 3]))
    """
    check_features(features, weight.shape[0])
    tokens = F.normalize(pool_tokens(features, patch_size), dim=1, eps=eps)
    z = torch.einsum("bchw,c->bhw", tokens, weight) + bias
    keep = torch.sigmoid(-z / temperature)
    e_u = unary_weight * F.softplus(z)
    e_p = pairwise_weight * F.softplus(neighbour_similarity(tokens))
    masked = features * upsample_tokens(keep, patch_size, features.shape[-2:])[:, None]
    return ERSMOutput(features=masked, unary=z, keep_prob=keep, unary_energy=e_u,
                      pairwise_energy=e_p, tokens=tokens)


class ERSMLayer(RecordingLayer):
    """The paper's Energy-Mask Layer (see the module docstring for formulas and differences).

    Args:
        channels: feature channels ``C``.
        patch_size: token side in feature cells (1 or 2 in the paper).
        temperature: ``T``.
        unary_weight: ``λ`` (default 1e-3).
        pairwise_weight: ``γ`` (default 1e-3).

    Attributes (of the last forward pass, token grid ``h × w``):
        unary: ``(B, h, w)`` ``z``; keep_prob: ``(B, h, w)``; energy: ``(B, h, w)``
        ``E_u + E_p``; last: the full :class:`ERSMOutput`.

    Shape:
        ``(B, C, H, W) → (B, C, H, W)``.

    Example:
        >>> layer = ERSMLayer(8, patch_size=2)
        >>> layer(torch.rand(2, 8, 6, 6)).shape, layer.keep_prob.shape
        (torch.Size([2, 8, 6, 6]), torch.Size([2, 3, 3]))
    """

    def __init__(self, channels: int, patch_size: int = 1, temperature: float = 1.0,
                 unary_weight: float = 1e-3, pairwise_weight: float = 1e-3) -> None:
        super().__init__()
        if not (temperature > 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be finite and > 0, got {temperature}")
        self.channels, self.patch_size = channels, check_patch_size(patch_size)
        self.temperature = temperature
        self.unary_weight, self.pairwise_weight = unary_weight, pairwise_weight
        self.proj = nn.Linear(channels, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.last = ersm_mask(features, self.proj.weight[0], self.proj.bias[0], self.patch_size,
                              self.temperature, self.unary_weight, self.pairwise_weight)
        return self.last.features

    unary = from_last("unary", "``(B, h, w)`` logits ``z`` of the last call.")
    keep_prob = from_last("keep_prob", "``(B, h, w)`` ``σ(−z/T)`` of the last call.")
    energy = from_last("energy", "``(B, h, w)`` ``E_u + E_p`` of the last call.")

    def regularizer(self) -> torch.Tensor:
        """``mean(keep · (E_u + E_p))`` of the last forward pass (scalar)."""
        return last_output(self).regularizer()

    def grid_energy(self, pairwise_weight: float | None = None,
                    connectivity: int = 8) -> GridEnergy:
        """The MRF implied by the last forward pass, to solve and compare with ``keep_prob``.

        Unaries ``θ = z / T`` (so that with no pairwise term the mean-field marginal is
        exactly ``keep``) and Potts weights ``γ · max(cos(p̂_i, p̂_j), 0)``.

        Args:
            pairwise_weight: ``γ`` of the Potts weights (default: the layer's).
            connectivity: 8 (the paper's neighbourhood) or 4.

        Returns:
            a batched torch :class:`~ersm.GridEnergy` (detached).
        """
        last = last_output(self)
        gamma = self.pairwise_weight if pairwise_weight is None else pairwise_weight
        tokens = last.tokens.detach()
        weights = cosine_weights(tokens, gamma=gamma, connectivity=connectivity,
                                 channels_last=False)
        return GridEnergy(last.unary.detach() / self.temperature, weights)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, patch_size={self.patch_size}, "
                f"temperature={self.temperature}, unary_weight={self.unary_weight}, "
                f"pairwise_weight={self.pairwise_weight}")


__all__ = ["ERSMLayer", "ERSMOutput", "ersm_mask", "neighbour_similarity"]
