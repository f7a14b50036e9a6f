"""``PathResult``: the whole keep-cost path of a batch of energies, one threshold per token."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.arrays import is_torch, like, to_numpy
from ...core.checks import is_real_scalar
from ...core.errors import DTypeError, ShapeError, ValueRangeError
from ...energy.grid import GridEnergy


def _per_sample(value: Any, batch: int, batched: bool, name: str) -> np.ndarray:
    """A real scalar (Python, NumPy, 0-d array or tensor) or ``(B,)`` argument as a float64
    ``(B,)`` array (NaN and booleans refused)."""
    kind = getattr(value, "dtype", None)
    if isinstance(value, (bool, np.bool_)) or str(kind) in ("bool", "torch.bool"):
        raise DTypeError(f"{name} must be a real number or array, got a boolean")
    if getattr(value, "ndim", None) == 0 or is_real_scalar(value):
        arr = np.asarray(float(value), dtype=np.float64)
    elif isinstance(value, (np.ndarray, list, tuple)) or is_torch(value):
        arr = to_numpy(value, np.float64)
    else:
        raise DTypeError(f"{name} must be a real number or array, got {type(value).__name__}")
    if arr.ndim == 0:
        arr = np.full(batch, float(arr), dtype=np.float64)
    elif not batched or arr.shape != (batch,):
        want = "a scalar" if not batched else f"a scalar or shape ({batch},)"
        raise ShapeError(f"{name} must be {want}, got shape {tuple(arr.shape)}")
    if np.isnan(arr).any():
        raise ValueRangeError(f"{name} must not be NaN")
    return arr


@dataclass
class PathResult:
    """Result of :func:`ersm.solve_path`: every canonical minimiser of ``E + λ·Σ m``.

    Attributes:
        thresholds: ``(B, H, W)`` (or ``(H, W)``) float64, array type and device of the
            energy: for every ``lam_min <= λ <= lam_max``, ``thresholds >= λ`` is the
            canonical minimiser (the union of all minimisers, as ``graphcut`` returns)
            of ``E(m) + λ·Σ m``; ``+inf`` / ``-inf`` for tokens kept / dropped over the
            whole range.
        breakpoints: per sample, the sorted distinct finite thresholds (a list of ``(n_b,)``
            float64 arrays; one array if unbatched): the λ where the minimiser changes.
        lam_min, lam_max: the range the thresholds describe.
        energy: the :class:`GridEnergy` that was solved.
        info: extras (e.g. ``"cuts"``: ``(B,)`` number of graph cuts per sample).
    """

    thresholds: Any
    breakpoints: Any
    lam_min: float
    lam_max: float
    energy: GridEnergy
    info: dict[str, Any] = field(default_factory=dict)

    # -- helpers --------------------------------------------------------------------
    def _t(self) -> np.ndarray:
        t = to_numpy(self.thresholds, np.float64)
        return t if self.energy.batched else t[None]

    def _out(self, values: np.ndarray) -> Any:
        values = like(values, self.energy.unary)
        return values if self.energy.batched else values[0]

    def _lams(self, lam: Any, name: str = "lam") -> np.ndarray:
        lams = _per_sample(lam, self.energy.batch_size, self.energy.batched, name)
        bad = (lams < self.lam_min) | (lams > self.lam_max)
        if bad.any():
            raise ValueRangeError(
                f"{name} must lie in [lam_min, lam_max] = [{self.lam_min}, {self.lam_max}] "
                f"(the range solved), got {float(lams[bad][0])}"
            )
        return lams

    # -- queries --------------------------------------------------------------------
    def mask_at(self, lam: Any) -> Any:
        """Canonical minimiser at keep cost ``lam``.

        Args:
            lam: scalar, or ``(B,)`` (one keep cost per sample, batched energies only),
                within ``[lam_min, lam_max]``.

        Returns:
            ``(B, H, W)`` (or ``(H, W)``) bool, array type and device of the energy.
        """
        lams = self._lams(lam)
        return self._out(self._t() >= lams[:, None, None])

    def energy_at(self, lam: Any) -> Any:
        """Optimal energy ``min_m E(m) + λ·Σ m`` (constant included), ``(B,)`` or ``()``.

        Piecewise linear and concave in λ, with kinks at the breakpoints.
        """
        lams = self._lams(lam)
        mask = self._t() >= lams[:, None, None]
        size = mask.sum(axis=(1, 2)).astype(np.float64)
        shift = np.where(size > 0, lams * np.where(size > 0, size, 1.0), 0.0)
        base = to_numpy(self.energy.energy(mask if self.energy.batched else mask[0]), np.float64)
        return self._out(np.reshape(base, (-1,)) + shift)

    def keep_cost_for_ratio(self, ratio: Any) -> Any:
        """Keep cost λ whose mask size is closest to ``ratio·H·W`` (ties: the smaller mask).

        Args:
            ratio: scalar or ``(B,)`` in ``[0, 1]``.

        Returns:
            ``(B,)`` (or ``()``) float64 λ in ``[lam_min, lam_max]``, array type and device
            of the energy; ``mask_at`` of it is the chosen mask.
        """
        ratios = _per_sample(ratio, self.energy.batch_size, self.energy.batched, "ratio")
        if ((ratios < 0) | (ratios > 1)).any():
            bad = ratios[(ratios < 0) | (ratios > 1)][0]
            raise ValueRangeError(f"ratio must lie in [0, 1], got {float(bad)}")
        t = self._t()
        n = t.shape[1] * t.shape[2]
        out = np.empty(len(ratios), dtype=np.float64)
        for b, r in enumerate(ratios):
            flat = t[b].ravel()
            finite = np.unique(flat[np.isfinite(flat)])  # sorted ascending
            # sizes: count(t >= value) at every finite breakpoint, then above them all
            sizes = n - np.searchsorted(np.sort(flat), finite, side="left")
            top_size = int(np.isposinf(flat).sum())
            if math.isfinite(self.lam_max) or finite.size == 0:
                top = self.lam_max if math.isfinite(self.lam_max) else self.lam_min
            else:
                top = math.nextafter(float(finite[-1]), math.inf)
            lams = np.append(finite, top)
            sizes = np.append(sizes, top_size)
            gap = np.abs(sizes - r * n)
            best = np.flatnonzero(gap == gap.min())
            out[b] = lams[best[np.argmin(sizes[best])]]
        return self._out(out)
