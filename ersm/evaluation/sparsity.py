"""Sparsity of learned masks: how many tokens they keep and how decided they are.

Per image, from the learned keep probabilities ``p`` ``(B, h, w)``:

- ``active_fraction``: share of tokens with ``p > 0.5``;
- ``mean_keep_prob``: mean of ``p``;
- ``entropy``: mean Bernoulli entropy ``−p ln p − (1 − p) ln(1 − p)`` in nats (0 for a
  binary mask, ``ln 2 ≈ 0.693`` when every token is undecided);

and over all tokens a histogram of ``p`` on ``[0, 1]`` (:func:`keep_histogram`).
"""

from __future__ import annotations

import torch

HIST_BINS = 10
SPARSITY_KEYS: tuple[str, ...] = ("active_fraction", "mean_keep_prob", "entropy")


def bernoulli_entropy(p: torch.Tensor) -> torch.Tensor:
    """Elementwise ``−p ln p − (1 − p) ln(1 − p)`` in nats (0 at ``p ∈ {0, 1}``).

    Example:
        >>> bernoulli_entropy(torch.tensor([0.0, 0.5, 1.0])).tolist()  # doctest: +ELLIPSIS
        [0.0, 0.693..., 0.0]
    """
    p = p.double()
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p)) + 0.0  # no -0.0


def sparsity_stats(keep_prob: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image ``active_fraction``, ``mean_keep_prob``, ``entropy``, each ``(B,)`` float64.

    Args:
        keep_prob: ``(B, h, w)`` in ``[0, 1]``.
    """
    p = keep_prob.detach().double().flatten(1)
    return {"active_fraction": (p > 0.5).double().mean(1), "mean_keep_prob": p.mean(1),
            "entropy": bernoulli_entropy(p).mean(1)}


def keep_histogram(keep_prob: torch.Tensor, bins: int = HIST_BINS) -> torch.Tensor:
    """Counts of ``p`` in ``bins`` equal bins on ``[0, 1]`` (1 in the last): ``(bins,)`` float64."""
    p = keep_prob.detach().double().flatten().clamp(0, 1)
    index = (p * bins).long().clamp(max=bins - 1)
    return torch.bincount(index, minlength=bins).double()


__all__ = ["HIST_BINS", "SPARSITY_KEYS", "bernoulli_entropy", "keep_histogram", "sparsity_stats"]
