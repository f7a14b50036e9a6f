"""Hypothesis strategies and helpers for grid energies, shared by the test suite.

Import from any test module under ``tests/`` with ``from strategies import ...``
(``tests/`` has no ``__init__.py``, so pytest's default ``prepend`` import mode puts it on
``sys.path`` for ``tests/conftest.py``).

Value kinds (``EnergyCase.kind``):

==============  ====================================================================
kind            values
==============  ====================================================================
``float``       arbitrary float64 drawn by hypothesis (θ ∈ [-8, 8], w ∈ [0, 4]);
                shrinks well, may tie, sums round
``generic``     seeded continuous random values: no ties (with probability 1)
``dyadic``      multiples of 1/8 in a small range: every sum is exact in float64 and
                in int32 after scaling, ties and zeros are everywhere
``wide_dyadic`` ``m · 2^e`` with ``|m| ≤ 8``, ``e ∈ [-20, 20]``: still exact in float64,
                but too wide for int32 backends (``scipy`` refuses it)
``extreme``     magnitudes around 1e-9, 1 and 1e9 mixed in one map (sums round)
``near_tie``    a few dyadic values plus a random jitter of about 1e-9: ties are broken,
                but only a solver that keeps float64 precision finds the optimum (the
                gaps are far above float64 rounding and far below float32's)
==============  ====================================================================

Shapes cover 1×1, 1×N and N×1 explicitly. Weights are drawn for every position, also
those whose edge leaves the grid (they must be ignored everywhere); a few cases have
all-zero weights, all-zero unaries, or zero in-grid weights with off-grid junk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ersm import GridEnergy
from ersm.energy.offsets import num_channels, valid_edge_mask
from ersm.solvers.kernels.grid_graph import grid_edges

VALUE_KINDS = ("float", "generic", "dyadic", "wide_dyadic", "extreme", "near_tie")
EXACT_KINDS = frozenset({"dyadic", "wide_dyadic"})
"""Kinds whose every partial sum is exact in float64: canonical masks agree bit for bit."""
INT32_KINDS = frozenset({"dyadic"})
"""Kinds that a power of two scales losslessly into int32 (``scipy``, ``gco``)."""
NO_TIE_KINDS = frozenset({"generic"})
"""Kinds with a unique minimiser (continuous random values)."""

ODD_SHAPES = ((1, 1), (1, 2), (2, 1), (1, 3), (3, 1), (1, 5), (5, 1), (1, 6), (6, 1),
              (2, 2), (1, 12), (12, 1), (1, 16), (16, 1), (2, 8), (8, 2))
SPECIALS = ("none", "none", "none", "none", "none", "none",
            "zero_weights", "zero_in_grid_weights", "zero_unary")


def examples(n: int) -> int:
    """``n`` scaled by the env var ``ERSM_HYPOTHESIS_SCALE`` (default 1) for long runs."""
    return max(1, int(n * float(os.environ.get("ERSM_HYPOTHESIS_SCALE", "1"))))


# ----------------------------------------------------------------------------- shapes


@st.composite
def grid_shapes(draw, max_side: int = 6, max_tokens: int | None = None, min_side: int = 1,
                odd_shapes: tuple[tuple[int, int], ...] = ODD_SHAPES) -> tuple[int, int]:
    """``(H, W)`` with ``min_side ≤ H, W ≤ max_side`` and ``H · W ≤ max_tokens``, or (one
    draw in four) one of ``odd_shapes`` (1×1, 1×N, N×1, ...) that fits ``max_tokens``."""
    cap = max_tokens if max_tokens is not None else max_side * max_side
    odd = [s for s in odd_shapes if s[0] * s[1] <= cap]
    if odd and draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(odd))
    h = draw(st.integers(min_side, min(max_side, cap // min_side)))
    w = draw(st.integers(min_side, min(max_side, cap // h)))
    return h, w


# ----------------------------------------------------------------------------- values


def _float_elements(low: float, high: float) -> st.SearchStrategy[float]:
    # no subnormals or near-underflow values: scaling by powers of two must stay exact
    return st.floats(low, high, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False).map(lambda v: 0.0 if abs(v) < 1e-12 else v)


def _values(draw, kind: str, shape_u: tuple, shape_p: tuple) -> tuple[np.ndarray, np.ndarray]:
    if kind == "float":
        u = draw(hnp.arrays(np.float64, shape_u, elements=_float_elements(-8.0, 8.0)))
        p = draw(hnp.arrays(np.float64, shape_p, elements=_float_elements(0.0, 4.0)))
        return u, p
    if kind == "dyadic":
        u = draw(hnp.arrays(np.int64, shape_u, elements=st.integers(-24, 24))) / 8.0
        p = draw(hnp.arrays(np.int64, shape_p, elements=st.integers(0, 16))) / 8.0
        return u, p
    if kind == "wide_dyadic":
        mu = draw(hnp.arrays(np.int64, shape_u, elements=st.integers(-8, 8)))
        eu = draw(hnp.arrays(np.int64, shape_u, elements=st.integers(-20, 20)))
        mp = draw(hnp.arrays(np.int64, shape_p, elements=st.integers(0, 8)))
        ep = draw(hnp.arrays(np.int64, shape_p, elements=st.integers(-20, 20)))
        return np.ldexp(mu.astype(np.float64), eu), np.ldexp(mp.astype(np.float64), ep)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "generic":
        scale = draw(st.sampled_from([0.01, 1.0, 100.0]))
        ratio = draw(st.sampled_from([0.1, 0.5, 1.0, 3.0]))
        return (rng.normal(0.0, scale, shape_u),
                rng.uniform(0.0, scale * ratio, shape_p))
    if kind == "extreme":
        mags = np.array([1e-9, 1.0, 1e9])
        u = (rng.choice(mags, shape_u) * rng.uniform(0.5, 2.0, shape_u)
             * rng.choice([-1.0, 1.0], shape_u))
        p = rng.choice(mags, shape_p) * rng.uniform(0.0, 2.0, shape_p)
        flat = u.reshape(shape_u[0], -1)
        if flat.shape[1] >= 2:  # a 1e-9 and a 1e9 token in every map
            flat[:, 0] = np.copysign(rng.uniform(0.5, 2.0, shape_u[0]) * 1e-9, flat[:, 0])
            flat[:, -1] = np.copysign(rng.uniform(0.5, 2.0, shape_u[0]) * 1e9, flat[:, -1])
        return u, p
    if kind == "near_tie":  # few distinct values: many exact ties before the jitter
        u = draw(hnp.arrays(np.float64, shape_u,
                            elements=st.sampled_from([-1.0, -0.5, -0.25, 0.25, 0.5, 1.0])))
        p = draw(hnp.arrays(np.float64, shape_p, elements=st.sampled_from([0.0, 0.25, 0.5])))
        return u + rng.uniform(-1e-9, 1e-9, shape_u), p + rng.uniform(0.0, 1e-9, shape_p)
    raise ValueError(f"unknown value kind {kind!r}")


def _constant(draw, kind: str, batch: int) -> np.ndarray | float:
    if not draw(st.booleans()):
        return 0.0
    if kind in EXACT_KINDS:
        return draw(hnp.arrays(np.int64, (batch,), elements=st.integers(-40, 40))) / 8.0
    return draw(hnp.arrays(np.float64, (batch,), elements=_float_elements(-100.0, 100.0)))


@dataclass(frozen=True)
class EnergyCase:
    """A drawn energy and the kind of values it holds (see the module docstring)."""

    kind: str
    energy: GridEnergy

    @property
    def exact(self) -> bool:
        return self.kind in EXACT_KINDS

    @property
    def no_ties(self) -> bool:
        return self.kind in NO_TIE_KINDS

    def __repr__(self) -> str:  # full precision, so a failing example can be pasted back
        u, p = self.energy.numpy()
        return (f"EnergyCase(kind={self.kind!r}, energy=GridEnergy(np.array({u.tolist()!r}), "
                f"np.array({p.tolist()!r}), {self.energy.connectivity}, "
                f"np.array({self.energy.constant_array().tolist()!r})))")


@st.composite
def energy_cases(draw, kinds=VALUE_KINDS, min_batch: int = 1, max_batch: int = 3,
                 max_side: int = 6, max_tokens: int | None = None, min_side: int = 1,
                 odd_shapes=ODD_SHAPES, connectivity=(4, 8), specials: bool = True,
                 constant: bool = True) -> EnergyCase:
    """An :class:`EnergyCase` (NumPy float64 :class:`GridEnergy`, batched).

    Args:
        kinds: value kinds to draw from (``VALUE_KINDS`` subset).
        min_batch, max_batch: batch size range.
        max_side, max_tokens, min_side, odd_shapes: grid sizes (see :func:`grid_shapes`).
        connectivity: 4 and/or 8.
        specials: sometimes zero all weights, zero in-grid weights only, or zero unaries.
        constant: sometimes add a per-sample constant.
    """
    kind = draw(st.sampled_from(tuple(kinds)))
    batch = draw(st.integers(min_batch, max_batch))
    conn = draw(st.sampled_from(tuple(connectivity)))
    h, w = draw(grid_shapes(max_side, max_tokens, min_side, tuple(odd_shapes)))
    n_k = num_channels(conn)
    u, p = _values(draw, kind, (batch, h, w), (batch, n_k, h, w))
    special = draw(st.sampled_from(SPECIALS)) if specials else "none"
    if kind in NO_TIE_KINDS and special == "zero_unary":
        special = "none"  # θ ≡ 0 makes every constant mask optimal: ties
    if special == "zero_weights":
        p = np.zeros_like(p)
    elif special == "zero_in_grid_weights":
        p = p * ~valid_edge_mask(h, w, conn)
    elif special == "zero_unary":
        u = np.zeros_like(u)
    c = _constant(draw, kind, batch) if constant else 0.0
    event(f"kind={kind}")
    event(f"connectivity={conn}")
    event(f"special={special}")
    event("shape=1x1" if h == w == 1 else "shape=1xN/Nx1" if min(h, w) == 1 else "shape=2-D")
    return EnergyCase(kind, GridEnergy(np.ascontiguousarray(u, np.float64),
                                       np.ascontiguousarray(p, np.float64), conn, c))


def grid_energies(**kwargs) -> st.SearchStrategy[GridEnergy]:
    """Like :func:`energy_cases` but yields the :class:`GridEnergy` only."""
    return energy_cases(**kwargs).map(lambda case: case.energy)


# ------------------------------------------------------------------ energy transforms


def transpose_energy(energy: GridEnergy) -> GridEnergy:
    """The same energy on the transposed grid: token ``(y, x)`` becomes ``(x, y)``.

    Channel mapping (``OFFSETS = right (0,+1), down (+1,0), down-right (+1,+1),
    down-left (+1,-1)``):

    * right ↔ down: edge ``(y,x)–(y,x+1)`` becomes ``(x,y)–(x+1,y)``, a *down* edge
      from ``(x, y)``; so ``P'[1] = P[0]ᵀ`` and ``P'[0] = P[1]ᵀ``.
    * down-right stays down-right: ``(y,x)–(y+1,x+1)`` → ``(x,y)–(x+1,y+1)``,
      ``P'[2] = P[2]ᵀ``.
    * down-left ``(y,x)–(y+1,x−1)`` becomes ``(x,y)–(x−1,y+1)``, offset ``(−1,+1)``;
      seen from its other endpoint ``(x−1, y+1)`` it is a down-left edge to ``(x, y)``:
      ``P'[3][x−1, y+1] = P[3][y, x]``, i.e. ``P'[3][:W−1, 1:] = P[3]ᵀ[1:, :H−1]``;
      the rest of ``P'[3]`` (edges leaving the grid) is set to 0.

    Off-grid weights of channels 0–2 land on off-grid positions again.
    """
    u, p = energy.numpy()
    ut = np.ascontiguousarray(u.transpose(0, 2, 1))
    pt = p.transpose(0, 1, 3, 2)  # (B, K, W, H), channels not yet remapped
    out = np.zeros_like(pt)
    out[:, 0], out[:, 1] = pt[:, 1], pt[:, 0]
    if p.shape[1] == 4:
        out[:, 2] = pt[:, 2]
        out[:, 3, :-1, 1:] = pt[:, 3, 1:, :-1]
    return GridEnergy(ut, np.ascontiguousarray(out), energy.connectivity,
                      energy.constant_array())


def with_unary(energy: GridEnergy, unary: np.ndarray) -> GridEnergy:
    """``energy`` with its unaries replaced (pairwise, connectivity, constant kept)."""
    return GridEnergy(np.ascontiguousarray(unary, np.float64), energy.numpy()[1],
                      energy.connectivity, energy.constant_array())


def with_pairwise(energy: GridEnergy, pairwise: np.ndarray) -> GridEnergy:
    """``energy`` with its pairwise weights replaced."""
    return GridEnergy(energy.numpy()[0], np.ascontiguousarray(pairwise, np.float64),
                      energy.connectivity, energy.constant_array())


# ---------------------------------------------------------------- exact arithmetic


def energy_scale(energy: GridEnergy) -> np.ndarray:
    """``(B,)`` ``Σ|θ| + Σ w (in-grid) + |c|``: the size that float rounding scales with."""
    u, p = energy.numpy()
    valid = valid_edge_mask(energy.height, energy.width, energy.connectivity)
    return (np.abs(u).sum(axis=(1, 2)) + (p * valid).sum(axis=(1, 2, 3))
            + np.abs(energy.constant_array()))


def exact_energy(energy: GridEnergy, mask: np.ndarray) -> list[Fraction]:
    """Energy per sample in exact rational arithmetic (no float rounding), constant included."""
    u, p = energy.numpy()
    const = energy.constant_array()
    mask = np.asarray(mask, bool).reshape(u.shape)
    out = []
    for b in range(u.shape[0]):
        m = mask[b].ravel()
        total = Fraction(float(const[b]))
        total += sum((Fraction(float(t)) for t in u[b].ravel()[m]), Fraction(0))
        i, j, w = grid_edges(p[b])
        cut = m[i] != m[j]
        total += sum((Fraction(float(x)) for x in w[cut]), Fraction(0))
        out.append(total)
    return out
