"""``GridEnergy``: the unary–pairwise mask energy on a token grid.

``E(m) = Σ_i θ_i m_i + Σ_(i,j) w_ij [m_i ≠ m_j] + c`` with ``m ∈ {0, 1}^(H×W)``
(1 = keep). The edge layout is documented once, in :mod:`ersm.energy.offsets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.arrays import is_torch, like, to_numpy
from .checks import canonical_dtype, check_energy_arrays
from ..core.checks import check_array_like, check_finite, check_mask
from ..core.errors import DTypeError, ValueRangeError
from ._grid_shape import GridArrays
from .evaluate import discrete_energy, relaxed_energy


@dataclass(frozen=True, eq=False)
class GridEnergy(GridArrays):
    """A batch of unary–pairwise energies on ``H × W`` grids.

    Args:
        unary: ``(B, H, W)`` or ``(H, W)``: θ = cost of keeping a token minus cost of
            dropping it (θ < 0 favours keeping). NumPy array or torch tensor.
        pairwise: ``(B, K, H, W)`` or ``(K, H, W)``: Potts weight of the edge from
            ``(y, x)`` to ``(y, x) + OFFSETS[k]``; ``K = 2`` for 4-connectivity (right,
            down), ``K = 4`` for 8-connectivity (+ down-right, down-left). Weights on
            edges leaving the grid are ignored. Exact solvers need them ``≥ 0``.
        connectivity: 4 or 8; inferred from ``K`` when omitted.
        constant: scalar or ``(B,)`` added to every reported energy (kept exact when the
            energy comes from two-sided unaries, see :meth:`from_two_sided`).

    Unbatched inputs give unbatched results everywhere (masks ``(H, W)``, energies ``()``).

    Dtypes are canonicalised once, here (:data:`ersm.energy.checks.DTYPE_RULE`): NumPy
    float16/32/64 and integers kept, longdouble rounded to float64 (overflow raises
    ``ValueRangeError``), byte order made native, torch float16/bfloat16 made float32.

    Example:
        >>> import numpy as np
        >>> e = GridEnergy(np.array([[-1.0, 2.0]]), np.ones((2, 1, 2)))
        >>> float(e.energy(np.array([[True, False]])))
        0.0
    """

    unary: Any
    pairwise: Any
    connectivity: int = 4
    constant: Any = 0.0
    batched: bool = True

    def __init__(self, unary: Any, pairwise: Any, connectivity: int | None = None,
                 constant: Any = 0.0) -> None:
        u, p, conn, batched = check_energy_arrays(unary, pairwise, connectivity)
        constant = canonical_dtype(check_array_like(constant, "constant"), "constant")
        check_finite(constant, "constant")
        if constant.ndim > 1 or (constant.ndim == 1 and constant.shape[0] != u.shape[0]):
            raise ValueError(
                f"constant must be a scalar or have shape ({u.shape[0]},), got {tuple(constant.shape)}"
            )
        object.__setattr__(self, "unary", u)
        object.__setattr__(self, "pairwise", p)
        object.__setattr__(self, "connectivity", conn)
        object.__setattr__(self, "constant", constant)
        object.__setattr__(self, "batched", batched)

    # -- construction ---------------------------------------------------------------
    @classmethod
    def from_two_sided(cls, cost_drop: Any, cost_keep: Any, pairwise: Any,
                       connectivity: int | None = None) -> "GridEnergy":
        """Build from two-sided unaries ``u⁰`` (drop) and ``u¹`` (keep), same shape.

        ``θ = u¹ − u⁰`` and the constant ``Σ u⁰`` keep reported energies equal to
        ``Σ u^{m_i}_i + Σ w [m_i ≠ m_j]``.
        """
        cost_drop = canonical_dtype(check_array_like(cost_drop, "cost_drop"), "cost_drop")
        cost_keep = canonical_dtype(check_array_like(cost_keep, "cost_keep"), "cost_keep")
        if tuple(cost_drop.shape) != tuple(cost_keep.shape):
            raise ValueError(
                f"cost_drop and cost_keep must have one shape, got {tuple(cost_drop.shape)} "
                f"and {tuple(cost_keep.shape)}"
            )
        check_finite(cost_drop, "cost_drop")
        check_finite(cost_keep, "cost_keep")
        theta = cost_keep - cost_drop
        if is_torch(cost_drop):
            constant = cost_drop.to(dtype=_torch_f64()).sum(dim=(-2, -1))
        else:
            constant = np.asarray(cost_drop, np.float64).sum(axis=(-2, -1))
        return cls(theta, pairwise, connectivity, constant)

    # -- shape information (batch_size, height, width, array_kind, device, numpy) ------
    @property
    def mask_shape(self) -> tuple[int, ...]:
        """Shape of a mask for this energy: ``(B, H, W)``, or ``(H, W)`` if unbatched."""
        return self.map_shape

    def constant_array(self) -> np.ndarray:
        """The constant as a float64 ``(B,)`` NumPy array."""
        return np.broadcast_to(to_numpy(self.constant, np.float64), (self.batch_size,)).copy()

    # -- evaluation -----------------------------------------------------------------
    def _batched(self, x: Any, name: str) -> Any:
        x = check_mask(x, self.mask_shape, name)
        return x if self.batched else x[None]

    def _unbatch(self, values: Any) -> Any:
        return values if self.batched else values[0]

    def _with_constant(self, values: Any) -> Any:
        c = self.constant
        if is_torch(values):
            c = like(np.asarray(to_numpy(c, np.float64)), values).to(values.dtype)
        else:
            c = to_numpy(c, np.float64)
        return values + c

    def with_constant(self, values: Any) -> Any:
        """Energies ``values`` ``(B,)`` of masks summed without the constant, as
        :meth:`energy` returns them: constant added, ``()`` if the energy is unbatched."""
        return self._unbatch(self._with_constant(values))

    def energy(self, mask: Any) -> Any:
        """Discrete energy (constant included) of a binary mask, float64.

        Args:
            mask: ``(B, H, W)`` (or ``(H, W)`` if unbatched), bool or 0/1 values.

        Returns:
            ``(B,)`` (or ``()``) float64, NumPy or torch like the energy's arrays.

        Raises:
            ValueRangeError: ``mask`` holds a value other than 0 and 1 (e.g. 2.0 or
                NaN); relaxed marginals go to :meth:`relaxed`.
        """
        m = self._batched(mask, "mask")
        _check_binary(m, "mask")
        m = like(to_numpy(m), self.unary) if is_torch(self.unary) != is_torch(m) else m
        return self.with_constant(discrete_energy(self.unary, self.pairwise, m))

    def relaxed(self, q: Any, kind: str = "multilinear") -> Any:
        """Relaxed energy (constant included) of marginals ``q ∈ [0, 1]``.

        Args:
            q: ``(B, H, W)`` (or ``(H, W)``) keep probabilities; differentiable for torch.
            kind: ``"multilinear"`` (expected energy) or ``"tv"`` (Lovász extension).

        Returns:
            ``(B,)`` (or ``()``) in the promoted dtype of ``q`` and the energy.
        """
        qb = self._batched(q, "q")
        if is_torch(qb):
            import torch

            dtype = torch.promote_types(qb.dtype, self.unary.dtype)
            if not dtype.is_floating_point:
                dtype = torch.float64
            u = _as_tensor(self.unary, qb.device, dtype)
            p = _as_tensor(self.pairwise, qb.device, dtype)
            values = relaxed_energy(u, p, qb.to(dtype), kind)
        else:
            qb = np.asarray(qb, np.float64)
            values = relaxed_energy(to_numpy(self.unary, np.float64),
                                    to_numpy(self.pairwise, np.float64), qb, kind)
        return self._unbatch(self._with_constant(values))

    # -- derived energies -----------------------------------------------------------
    def select(self, index: Any) -> "GridEnergy":
        """Batched sub-energy for samples ``index`` (int, slice or index array)."""
        if isinstance(index, int):
            index = slice(index, index + 1) if index != -1 else slice(-1, None)
        return GridEnergy(self.unary[index], self.pairwise[index], self.connectivity,
                          like(self.constant_array()[index], self.unary))

    def __repr__(self) -> str:
        return (f"GridEnergy(B={self.batch_size}, H={self.height}, W={self.width}, "
                f"connectivity={self.connectivity}, kind={self.array_kind}, "
                f"batched={self.batched})")


def _check_binary(mask: Any, name: str) -> None:
    """Raise unless every entry of ``mask`` is 0 or 1 (bool always passes; NaN fails)."""
    if is_torch(mask):
        import torch

        if mask.dtype == torch.bool:
            return
        if mask.is_complex():
            raise DTypeError(f"{name} must be bool or hold 0/1 values, got dtype {mask.dtype}")
        bad = ~((mask == 0) | (mask == 1))
        if not bool(bad.any()):
            return
        value = mask[bad][0].item()
    else:
        mask = np.asarray(mask)
        if mask.dtype == np.bool_:
            return
        if mask.dtype.kind not in "fiu":
            raise DTypeError(f"{name} must be bool or hold 0/1 values, got dtype {mask.dtype}")
        bad = ~((mask == 0) | (mask == 1))
        if not bad.any():
            return
        value = mask[bad][0].item()
    raise ValueRangeError(
        f"{name} must be binary (bool or 0/1 values), got {value!r} "
        f"({int(bad.sum())} entries not 0/1); use relaxed() for marginals in [0, 1]"
    )


def _torch_f64() -> Any:
    import torch

    return torch.float64


def _as_tensor(x: Any, device: Any, dtype: Any) -> Any:
    import torch

    if not is_torch(x):
        x = torch.from_numpy(np.ascontiguousarray(x))
    return x.to(device=device, dtype=dtype)
