"""``PottsEnergy``: the multi-label Potts energy on a token grid.

``E(l) = Σ_i U_i(l_i) + Σ_(i,j) w_ij [l_i ≠ l_j]`` with ``l ∈ {0, …, L−1}^(H×W)``. The
edge layout is the one of :class:`~ersm.energy.grid.GridEnergy`
(:mod:`ersm.energy.offsets`); with ``L = 2`` it is the binary energy with
``θ = U(1) − U(0)`` (:meth:`PottsEnergy.from_grid`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.arrays import is_torch, like, to_numpy
from ..core.checks import array_shape, check_array_like, check_finite, check_mask, check_real_dtype
from ..core.errors import DTypeError, ShapeError, ValueRangeError
from ._grid_shape import GridArrays
from .checks import canonical_dtype, check_energy_arrays
from .grid import GridEnergy
from .offsets import edge_slices
from .potts_sum import potts_energy_numpy


@dataclass(frozen=True, eq=False)
class PottsEnergy(GridArrays):
    """A batch of multi-label Potts energies on ``H × W`` grids.

    Args:
        unary: ``(B, L, H, W)`` or ``(L, H, W)``: ``unary[b, l, y, x]`` is the cost of
            giving token ``(y, x)`` label ``l``, any sign. NumPy array or torch tensor.
        pairwise: ``(B, K, H, W)`` or ``(K, H, W)``: the Potts weight ``w`` paid when the
            two ends of an edge get different labels, in the layout of
            :class:`~ersm.energy.grid.GridEnergy` (``K = 2``: 4-connectivity, ``K = 4``:
            8-connectivity; weights of edges leaving the grid are ignored). α-expansion
            needs them ``≥ 0``.
        connectivity: 4 or 8; inferred from ``K`` when omitted.

    Validation and dtypes are those of ``GridEnergy`` (:data:`~ersm.energy.checks.
    DTYPE_RULE`); unbatched inputs give unbatched results (labels ``(H, W)``, energies
    ``()``).

    Example:
        >>> import numpy as np
        >>> e = PottsEnergy(np.array([[[0.0, 3.0]], [[1.0, 0.0]], [[2.0, 2.0]]]),
        ...                 np.ones((2, 1, 2)))
        >>> float(e.energy(np.array([[0, 1]])))
        1.0
    """

    unary: Any
    pairwise: Any
    connectivity: int = 4
    batched: bool = True

    def __init__(self, unary: Any, pairwise: Any, connectivity: int | None = None) -> None:
        u, p, conn, batched = check_potts_arrays(unary, pairwise, connectivity)
        object.__setattr__(self, "unary", u)
        object.__setattr__(self, "pairwise", p)
        object.__setattr__(self, "connectivity", conn)
        object.__setattr__(self, "batched", batched)

    @classmethod
    def from_grid(cls, energy: GridEnergy) -> "PottsEnergy":
        """The ``L = 2`` Potts energy equal to a binary :class:`GridEnergy` (label 1 =
        keep): ``U(0) = 0``, ``U(1) = θ``, the constant added to both labels of token
        ``(0, 0)``, so energies agree (up to the rounding of that one addition)."""
        if not isinstance(energy, GridEnergy):
            raise TypeError(f"energy must be a GridEnergy, got {type(energy).__name__}")
        theta = to_numpy(energy.unary, np.float64)
        unary = np.stack([np.zeros_like(theta), theta], axis=1)
        unary[:, :, 0, 0] += energy.constant_array()[:, None]
        pairwise = to_numpy(energy.pairwise, np.float64)
        if not energy.batched:
            unary, pairwise = unary[0], pairwise[0]
        return cls(like(unary, energy.unary), like(pairwise, energy.unary), energy.connectivity)

    # -- shape information (batch_size, height, width, array_kind, device, numpy) ------
    @property
    def num_labels(self) -> int:
        return int(self.unary.shape[1])

    @property
    def labels_shape(self) -> tuple[int, ...]:
        """Shape of a labelling: ``(B, H, W)``, or ``(H, W)`` if unbatched."""
        return self.map_shape

    # -- evaluation -----------------------------------------------------------------
    def energy(self, labels: Any) -> Any:
        """Discrete energy of a labelling, float64.

        Args:
            labels: ``(B, H, W)`` (or ``(H, W)`` if unbatched) integers in ``[0, L)``
                (floats with integer values are accepted).

        Returns:
            ``(B,)`` (or ``()``) float64, NumPy or torch like the energy's arrays.
        """
        lab = check_labels(labels, self.labels_shape, self.num_labels)
        if not self.batched:
            lab = lab[None]
        if is_torch(self.unary):
            import torch

            lab = lab.to(self.unary.device) if is_torch(lab) else like(to_numpy(lab), self.unary)
            values = potts_energy(self.unary.to(torch.float64), self.pairwise.to(torch.float64),
                                  lab.to(torch.int64))
        else:
            values = potts_energy_numpy(self.unary, self.pairwise, to_numpy(lab, np.int64))
        return values if self.batched else values[0]

    def select(self, index: Any) -> "PottsEnergy":
        """Batched sub-energy for samples ``index`` (int, slice or index array)."""
        if isinstance(index, int):
            index = slice(index, index + 1) if index != -1 else slice(-1, None)
        return PottsEnergy(self.unary[index], self.pairwise[index], self.connectivity)

    def __repr__(self) -> str:
        return (f"PottsEnergy(B={self.batch_size}, L={self.num_labels}, H={self.height}, "
                f"W={self.width}, connectivity={self.connectivity}, kind={self.array_kind}, "
                f"batched={self.batched})")


def check_potts_arrays(unary: Any, pairwise: Any,
                       connectivity: int | None) -> tuple[Any, Any, int, bool]:
    """Validate a Potts unary/pairwise pair and return them batched.

    Args:
        unary: ``(B, L, H, W)`` or ``(L, H, W)``, ``L ≥ 1``.
        pairwise: ``(B, K, H, W)`` or ``(K, H, W)``.
        connectivity: 4, 8, or None to infer it from ``K``.

    Returns:
        ``(unary (B,L,H,W), pairwise (B,K,H,W), connectivity, batched)``, arrays in
        their own type and device, dtypes canonical (as for ``GridEnergy``).
    """
    unary = check_array_like(unary, "unary")
    check_real_dtype(unary, "unary")
    unary = canonical_dtype(unary, "unary")
    if unary.ndim not in (3, 4):
        raise ShapeError(
            f"unary must have shape (B, L, H, W) or (L, H, W), got {array_shape(unary)}")
    batched = unary.ndim == 4
    if not batched:
        unary = unary[None]
    if unary.shape[1] < 1:
        raise ShapeError(
            f"unary must have at least one label (L >= 1), got shape {array_shape(unary)}")
    pw = check_array_like(pairwise, "pairwise")
    if pw.ndim != unary.ndim - (0 if batched else 1):
        want = "(B, K, H, W)" if batched else "(K, H, W)"
        raise ShapeError(f"pairwise must have shape {want} to match unary "
                         f"{array_shape(unary) if batched else array_shape(unary)[1:]}, "
                         f"got {array_shape(pw)}")
    b, _, h, w = array_shape(unary)
    pw_shape = array_shape(pw) if batched else (1, *array_shape(pw))
    if (pw_shape[0], *pw_shape[2:]) != (b, h, w):
        raise ShapeError(f"pairwise must have shape (B, K, H, W) = ({b}, K, {h}, {w}) for unary "
                         f"(B, L, H, W) = {array_shape(unary)}, got {array_shape(pw)}")
    first = unary[:, 0] if batched else unary[0, 0]
    _, p, conn, _ = check_energy_arrays(first, pw, connectivity)  # K, device, finiteness
    check_finite(unary, "unary")
    return unary, p, conn, batched


def check_labels(labels: Any, shape: tuple[int, ...], num_labels: int,
                 name: str = "labels") -> Any:
    """``labels`` of ``shape`` holding integers in ``[0, num_labels)`` (returned as is)."""
    labels = check_mask(labels, shape, name)
    if is_torch(labels):
        if labels.dtype.is_complex or str(labels.dtype) == "torch.bool":
            raise DTypeError(f"{name} must hold integer labels, got dtype {labels.dtype}")
        values = labels.detach().cpu().numpy()
    else:
        values = np.asarray(labels)
        if values.dtype.kind not in "iuf":
            raise DTypeError(f"{name} must hold integer labels, got dtype {values.dtype}")
    bad = ~((values == np.round(values)) & (values >= 0) & (values < num_labels)) \
        if values.dtype.kind == "f" else ~((values >= 0) & (values < num_labels))
    if bad.any():
        raise ValueRangeError(f"{name} must hold integers in [0, {num_labels}), got "
                              f"{values[bad].ravel()[0].item()!r} ({int(bad.sum())} entries)")
    return labels


def potts_energy(unary: Any, pairwise: Any, labels: Any) -> Any:
    """``Σ U(l) + Σ w [l_i ≠ l_j]`` per sample, ``(B,)``, for batched float64 arrays
    ``unary (B,L,H,W)``, ``pairwise (B,K,H,W)`` and int64 ``labels (B,H,W)`` (NumPy or
    torch, same kind)."""
    height, width = labels.shape[-2:]
    if is_torch(unary):
        chosen = unary.gather(1, labels[:, None]).sum(dim=(1, 2, 3))
    else:
        chosen = np.take_along_axis(unary, labels[:, None], axis=1).sum(axis=(1, 2, 3))
    total = chosen
    for k in range(pairwise.shape[1]):
        (ys, xs), (yd, xd) = edge_slices(k, height, width)
        cut = labels[:, ys, xs] != labels[:, yd, xd]
        w = pairwise[:, k, ys, xs]
        term = w * cut
        total = total + (term.sum(dim=(-2, -1)) if is_torch(w) else term.sum(axis=(-2, -1)))
    return total
