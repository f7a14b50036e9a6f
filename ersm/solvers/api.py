"""``solve``: validate once, hand the backend host float64 arrays, convert back."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.arrays import is_torch, like
from ..core.checks import check_nonnegative
from ..core.errors import ShapeError
from ..energy.grid import GridEnergy
from ..energy.offsets import OFFSETS
from ..energy.potts import PottsEnergy
from .defaults import DEFAULT_EXACT, DEFAULT_POTTS
from .options import check_options
from .registry import BackendSpec, get_backend
from .result import PottsResult, SolveResult


def check_energy_for(spec: BackendSpec, energy: GridEnergy) -> None:
    """Raise if ``energy`` cannot be given to the backend ``spec``."""
    if not isinstance(energy, GridEnergy):
        raise TypeError(f"energy must be a GridEnergy, got {type(energy).__name__}")
    if spec.needs_submodular:
        check_nonnegative(energy.pairwise, "pairwise",
                          why=f"backend {spec.name!r} needs non-negative weights",
                          offsets=OFFSETS)
    tokens = energy.height * energy.width
    if spec.max_tokens is not None and tokens > spec.max_tokens:
        raise ShapeError(
            f"backend {spec.name!r} accepts at most {spec.max_tokens} tokens per map, got "
            f"H*W = {tokens}"
        )


def _available(spec: BackendSpec) -> BackendSpec:
    if not spec.is_available:
        raise ImportError(
            f"backend {spec.name!r} needs {list(spec.requires)}: pip install 'ersm[{spec.extra}]'"
        )
    return spec


def solve(energy: GridEnergy | PottsEnergy, backend: str | None = None,
          **options: Any) -> SolveResult | PottsResult:
    """Minimise a :class:`GridEnergy` or a :class:`PottsEnergy` with the named backend.

    Args:
        energy: the batch of energies (NumPy or torch).
        backend: a name from :func:`ersm.solvers.available` (``available("potts")`` for
            a ``PottsEnergy``); default ``"graphcut"`` (exact, Numba) for a
            ``GridEnergy``, ``"expansion"`` (α-expansion on the exact cut) for a
            ``PottsEnergy``.
        **options: backend options (e.g. ``iters=`` for mean-field).

    Returns:
        :class:`SolveResult` with ``mask`` ``(B, H, W)`` bool and ``energy`` ``(B,)``
        float64, both of the energy's array type and device (unbatched if the energy is);
        for a ``PottsEnergy`` a :class:`PottsResult` with ``labels`` ``(B, H, W)`` int64.

    Example:
        >>> import numpy as np, ersm
        >>> e = ersm.GridEnergy(np.array([[-1.0, 0.5]]), np.full((2, 1, 2), 0.2))
        >>> ersm.solve(e).mask
        array([[ True, False]])
    """
    if isinstance(energy, PottsEnergy):
        return solve_potts(energy, DEFAULT_POTTS if backend is None else backend, **options)
    spec = _available(get_backend(DEFAULT_EXACT if backend is None else backend))
    check_energy_for(spec, energy)
    check_options(options, [spec])
    if spec.array == "native":
        out = spec.run(energy.unary, energy.pairwise, **options)
    else:
        unary, pairwise = energy.numpy()
        out = spec.run(unary, pairwise, **options)
    mask = out.pop("mask")
    q = out.pop("q", None)
    # a backend may sum its masks' energies itself (``mask_energy``, no constant); used
    # for NumPy energies, where it is bit for bit what ``energy.energy(mask)`` returns
    mask_energy = out.pop("mask_energy", None)
    if is_torch(mask) != is_torch(energy.unary):
        mask = like(np.asarray(mask, dtype=bool), energy.unary)
        q = None if q is None else like(np.asarray(q), energy.unary)
    if "free_energy" in out:  # backends never see the constant; reported energies include it
        out["free_energy"] = out["free_energy"] + like(energy.constant_array(), out["free_energy"])
    if not energy.batched:
        mask = mask[0]
        q = None if q is None else q[0]
    if mask_energy is not None and not is_torch(energy.unary):
        values = energy.with_constant(np.asarray(mask_energy, dtype=np.float64))
    else:
        values = energy.energy(mask)
    return SolveResult(mask=mask, energy=values, backend=spec.name, q=q, info=out)


def solve_potts(energy: PottsEnergy, backend: str = DEFAULT_POTTS, **options: Any) -> PottsResult:
    """Minimise a :class:`PottsEnergy` (what :func:`solve` does for one).

    Example:
        >>> import numpy as np, ersm
        >>> unary = np.array([[[0.0, 2.0, 2.0]], [[2.0, 0.0, 2.0]], [[2.0, 2.0, 0.1]]])
        >>> ersm.solve(ersm.PottsEnergy(unary, np.full((2, 1, 3), 0.5))).labels
        array([[0, 1, 2]])
    """
    if not isinstance(energy, PottsEnergy):
        raise TypeError(f"energy must be a PottsEnergy, got {type(energy).__name__}")
    spec = _available(get_backend(backend, "potts"))
    if spec.needs_submodular:
        check_nonnegative(energy.pairwise, "pairwise",
                          why=f"backend {spec.name!r} needs non-negative weights",
                          offsets=OFFSETS)
    check_options(options, [spec])
    if spec.array == "native":
        out = spec.run(energy.unary, energy.pairwise, **options)
    else:
        out = spec.run(*energy.numpy(), **options)
    labels = out.pop("labels")
    q = out.pop("q", None)
    if is_torch(energy.unary) and not is_torch(labels):
        labels = like(np.asarray(labels, dtype=np.int64), energy.unary)
        q = None if q is None else like(np.asarray(q), energy.unary)
    if not energy.batched:
        labels = labels[0]
        q = None if q is None else q[0]
    return PottsResult(labels=labels, energy=energy.energy(labels), backend=spec.name, q=q,
                       info=out)
