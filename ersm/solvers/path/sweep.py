"""``sweep``: exact cuts for a list of pairwise scalings ``θ, s·w``, warm-started.

Scaling the pairwise term is *not* a nested family: the minimiser for a larger ``s`` need
not be a subset or a superset of the one for a smaller ``s`` (it is smoother, not
smaller), so no threshold map describes it and every scale costs one cut. Consecutive
cuts are warm-started from the previous final flow (dynamic graph cuts, Kohli & Torr);
the masks are the same canonical cuts as cold solves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.arrays import largest_magnitude, like, to_numpy
from ...core.errors import DTypeError, ShapeError, ValueRangeError
from ...energy.grid import GridEnergy
from ..api import check_energy_for, solve
from ..registry import get_backend

COLD_RATIO = 1e3
"""Solve cold when the scale shrinks by more than this factor (a warm flow carries the
rounding of the previous, larger capacities)."""


@dataclass
class SweepResult:
    """Result of :func:`sweep`.

    Attributes:
        pairwise_scales: ``(S,)`` float64 NumPy, the scales in the order given.
        masks: ``(S, B, H, W)`` (or ``(S, H, W)``) bool: the canonical minimiser of
            ``E_s(m) = Σ θ m + s·Σ w [m_i ≠ m_j]`` per scale, energy's array type/device.
        energies: ``(S, B)`` (or ``(S,)``) float64: ``E_s`` of each mask (constant included).
        info: ``"warm"``: ``(S,)`` bool, which solves were warm-started.
    """

    pairwise_scales: np.ndarray
    masks: Any
    energies: Any
    info: dict[str, Any] = field(default_factory=dict)


def _check_scales(pairwise_scales: Any, pairwise: Any) -> np.ndarray:
    """``(S,)`` float64 scales: a 1-D sequence of finite numbers ``>= 0`` whose products
    with the weights stay finite."""
    if pairwise_scales is None or isinstance(pairwise_scales, (str, bytes, bool, np.bool_)):
        raise DTypeError("pairwise_scales must be a 1-D sequence of numbers, got "
                         f"{type(pairwise_scales).__name__}")
    try:
        scales = to_numpy(pairwise_scales, np.float64)
    except (TypeError, ValueError) as err:
        raise ValueRangeError(f"pairwise_scales must be a 1-D sequence of numbers ({err})") from None
    if np.ndim(pairwise_scales) == 0:
        raise ShapeError("pairwise_scales must be 1-D (a list of scales), got a scalar")
    if scales.ndim != 1:
        raise ShapeError(f"pairwise_scales must be 1-D, got shape {tuple(scales.shape)}")
    if not np.isfinite(scales).all():
        raise ValueRangeError("pairwise_scales must be finite")
    if (scales < 0).any():
        raise ValueRangeError(
            f"pairwise_scales must be >= 0 (a negative scale makes the energy non-submodular), "
            f"got {float(scales[scales < 0][0])}")
    largest = largest_magnitude(pairwise)
    with np.errstate(over="ignore"):
        too_large = scales * largest > np.finfo(np.float64).max
    if too_large.any():
        raise ValueRangeError(f"pairwise_scales: {float(scales[too_large][0])} times the largest "
                              f"weight {largest} overflows float64")
    return scales


def sweep(energy: GridEnergy, pairwise_scales: Any) -> SweepResult:
    """Exact minimisers of ``Σ θ m + s·Σ w [m_i ≠ m_j]`` for every ``s`` in a list.

    Not nested in ``s`` (unlike the keep cost of :func:`ersm.solve_path`): one exact
    ``graphcut`` per scale, each warm-started from the previous one's final flow (sort the
    scales for the best reuse). Results equal cold solves (bit for bit on dyadic inputs).

    Args:
        energy: batch of energies (NumPy or torch), weights ``>= 0``.
        pairwise_scales: ``(S,)`` scales ``>= 0``.

    Returns:
        :class:`SweepResult` with ``masks`` ``(S, B, H, W)`` and ``energies`` ``(S, B)``.

    Example:
        >>> import numpy as np, ersm
        >>> e = ersm.GridEnergy(np.array([[-1.0, 0.5]]), np.full((2, 1, 2), 1.0))
        >>> ersm.sweep(e, [0.0, 1.0]).masks
        array([[[ True, False]],
        <BLANKLINE>
               [[ True,  True]]])
    """
    check_energy_for(get_backend("graphcut"), energy)
    scales = _check_scales(pairwise_scales, energy.pairwise)
    constant = like(energy.constant_array(), energy.unary)
    unary, pairwise = energy.unary, energy.pairwise
    if not energy.batched:
        unary, pairwise, constant = unary[0], pairwise[0], constant[0]
    masks, energies, warm = [], [], np.zeros(len(scales), dtype=bool)
    previous, previous_scale = None, None
    for n, s in enumerate(scales):
        scaled = GridEnergy(unary, pairwise * float(s), energy.connectivity, constant)
        use_warm = previous is not None and s * COLD_RATIO >= previous_scale
        result = solve(scaled, "graphcut", keep_state=True,
                       **({"warm_start": previous} if use_warm else {}))
        warm[n] = use_warm
        previous, previous_scale = result, s
        masks.append(result.mask)
        energies.append(result.energy)
    shape = energy.mask_shape
    if not scales.size:
        out_masks = like(np.zeros((0, *shape), dtype=bool), energy.unary)
        out_energy = like(np.zeros((0, *shape[:-2])), energy.unary)
    elif hasattr(masks[0], "detach"):
        import torch

        out_masks, out_energy = torch.stack(masks), torch.stack(energies)
    else:
        out_masks, out_energy = np.stack(masks), np.stack(energies)
    return SweepResult(pairwise_scales=scales, masks=out_masks, energies=out_energy,
                       info={"warm": warm})
