"""The energy landscape around a solved mask, for a few images.

- :func:`neighbourhood`: the energy of the solved mask against masks of the same size drawn
  at random, and against the solved mask with ``f`` random tokens flipped. For an exact
  solver no mask may score lower (a visible check of optimality).
- :func:`sweep`: the optimal energy and the kept fraction as the unary scale or the
  pairwise scale ``γ`` is multiplied by each factor (all factors in one batched solve);
- :func:`keep_cost_path`: the exact keep-cost path (:func:`ersm.solve_path`): the optimal
  energy ``min_m E(m) + λ·Σ m`` (piecewise linear, concave) and the canonical mask size at
  every breakpoint λ — the whole family of masks, not a sample of cuts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..energy.grid import GridEnergy
from ..solvers.api import solve
from ..solvers.path import solve_path
from .rankings import ranks
from ..solvers.defaults import DEFAULT_EXACT

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
          backend: str = DEFAULT_EXACT) -> dict[str, np.ndarray]:
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


def keep_cost_path(energy: GridEnergy, margin: float = 0.1) -> dict[str, np.ndarray]:
    """Optimal energy and kept fraction along the exact keep-cost path of a one-map energy.

    Args:
        energy: ``(1, h, w)`` energy (non-negative weights).
        margin: the λ range extends this share of the breakpoint span beyond the first and
            last breakpoint (so the constant ends show).

    Returns:
        ``{"lam": (n + 2,), "energy": (n + 2,), "size": (n + 2,), "breakpoints": (n,)}``
        float64: ``lam`` = the ``n`` breakpoints with one point beyond each end;
        ``energy`` = ``energy_at(lam)`` (exact: the optimum is linear between
        breakpoints); ``size`` = kept fraction of the canonical mask at ``lam`` (at a
        breakpoint the larger mask; on ``(lam[k-1], lam[k]]`` it is ``size[k]``).

    Example:
        >>> import torch
        >>> e = GridEnergy(torch.tensor([[[-1.0, 0.5]]]), torch.full((1, 2, 1, 2), 0.25))
        >>> keep_cost_path(e)["breakpoints"].tolist()
        [-0.25, 0.75]
    """
    path = solve_path(energy)
    breakpoints = np.asarray(torch.as_tensor(path.breakpoints[0]).cpu(), dtype=np.float64)
    if breakpoints.size:
        span = float(breakpoints[-1] - breakpoints[0]) or max(abs(float(breakpoints[0])), 1.0)
        lam = np.concatenate([[breakpoints[0] - margin * span], breakpoints,
                              [breakpoints[-1] + margin * span]])
    else:
        lam = np.array([-1.0, 1.0])
    t = np.asarray(torch.as_tensor(path.thresholds).cpu(), dtype=np.float64)[0]
    size = (t[None] >= lam[:, None, None]).reshape(len(lam), -1).mean(1)
    energies = np.array([float(np.asarray(torch.as_tensor(path.energy_at(float(v))).cpu())
                                  .reshape(-1)[0]) for v in lam])
    return {"lam": lam, "energy": energies, "size": size, "breakpoints": breakpoints}


__all__ = ["FACTORS", "FLIPS", "keep_cost_path", "neighbourhood", "sweep"]
