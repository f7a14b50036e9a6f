"""The energy landscape around a solved mask, for a few images.

- :func:`neighbourhood`: the energy of the solved mask against masks of the same size drawn
  at random, and against the solved mask with ``f`` random tokens flipped. For an exact
  solver no mask may score lower (a visible check of optimality).
- :func:`sweep`: the optimal energy and the kept fraction as the unary scale ``λ`` or the
  pairwise scale ``γ`` is multiplied by each factor (all factors in one batched solve).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..energy.grid import GridEnergy
from ..solvers.api import solve
from .rankings import ranks

FLIPS: tuple[int, ...] = (1, 2, 4, 8)
FACTORS: tuple[float, ...] = tuple(float(f) for f in np.logspace(-1, 1, 9))


def _repeated(energy: GridEnergy, count: int, unary_scale: torch.Tensor | float = 1.0,
              pairwise_scale: torch.Tensor | float = 1.0) -> GridEnergy:
    """``count`` copies of a one-map energy ``(1, h, w)``, each term scaled per copy."""
    unary = torch.as_tensor(energy.unary, dtype=torch.float64)[:1].expand(count, -1, -1)
    pairwise = torch.as_tensor(energy.pairwise, dtype=torch.float64)[:1].expand(count, -1, -1, -1)
    u = torch.as_tensor(unary_scale, dtype=torch.float64).reshape(-1, 1, 1)
    w = torch.as_tensor(pairwise_scale, dtype=torch.float64).reshape(-1, 1, 1, 1)
    return GridEnergy((unary * u).contiguous(), (pairwise * w).contiguous(), energy.connectivity)


def neighbourhood(energy: GridEnergy, mask: torch.Tensor, samples: int = 200,
                  flips: Sequence[int] = FLIPS, seed: int = 0) -> dict[str, object]:
    """Energies of random same-size masks and of locally perturbed solved masks.

    Args:
        energy: a one-map batched energy ``(1, h, w)`` (torch or NumPy).
        mask: ``(h, w)`` bool the solved mask.
        samples: masks per family.
        flips: numbers of tokens flipped in the perturbed families.
        seed: generator seed.

    Returns:
        ``{"optimum": float, "size": int, "random": (samples,) float64 ndarray,
        "flips": {f: (samples,) ndarray}}``.
    """
    mask = torch.as_tensor(np.asarray(mask), dtype=torch.bool)
    generator = torch.Generator().manual_seed(int(seed))
    copies = _repeated(energy, samples)
    tokens, size = mask.numel(), int(mask.sum())
    scores = torch.rand((samples, *mask.shape), generator=generator)
    random_masks = ranks(scores) < size
    optimum = _repeated(energy, 1).energy(mask[None])
    out = {"optimum": float(optimum.reshape(-1)[0]), "size": size,
           "random": copies.energy(random_masks).numpy(), "flips": {}}
    for f in flips:
        picked = ranks(torch.rand((samples, *mask.shape), generator=generator)) < min(f, tokens)
        out["flips"][int(f)] = copies.energy(mask[None] ^ picked).numpy()
    return out


def sweep(energy: GridEnergy, factors: Sequence[float] = FACTORS, term: str = "pairwise",
          backend: str = "graphcut") -> dict[str, np.ndarray]:
    """Optimal energy and kept fraction as one term of a one-map energy is rescaled.

    Args:
        energy: ``(1, h, w)`` energy.
        factors: multipliers of the term.
        term: ``"pairwise"`` (γ sweep) or ``"unary"`` (λ sweep).
        backend: exact solver.

    Returns:
        ``{"factors", "energy", "size"}``, each ``(F,)`` float64 (``size`` as a fraction).
    """
    if term not in ("pairwise", "unary"):
        raise ValueError(f"term must be 'pairwise' or 'unary', got {term!r}")
    scale = torch.tensor(list(factors), dtype=torch.float64)
    scaled = (_repeated(energy, len(scale), unary_scale=scale) if term == "unary"
              else _repeated(energy, len(scale), pairwise_scale=scale))
    result = solve(scaled, backend=backend)
    return {"factors": scale.numpy(), "energy": np.asarray(result.energy, dtype=np.float64),
            "size": result.mask.flatten(1).double().mean(1).numpy()}


__all__ = ["FACTORS", "FLIPS", "neighbourhood", "sweep"]
