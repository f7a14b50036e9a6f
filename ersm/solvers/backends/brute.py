"""``brute``: exhaustive search over all ``2^(H·W)`` masks (tiny grids; test oracle).

Exact for every float64 input: float64 sums only pick the candidates, the masks whose
float energy lies within the rounding bound ``δ = (N + 4) · 2⁻⁵² · (Σ|θ| + Σ|w|)`` of the
float minimum (``N`` = tokens + edges), and those are compared in exact integers (every
float64 is a dyadic rational, as in ``reference``). So ``u = [[-1e17, 1]]`` with right
weight 0.5 keeps ``[[True, False]]``, although both masks have the float sum ``-1e17``.

Ties: returns the union of all exact minimisers, which is itself a minimiser (the
minimisers of a submodular energy form a lattice) and equals the canonical
maximal-keep cut returned by ``graphcut``.
"""

from __future__ import annotations

import numpy as np

from ...energy.evaluate import discrete_energy
from ..kernels.grid_graph import grid_edges
from ..registry import BackendSpec, register
from .reference import exact_integers

MAX_TOKENS = 20
_CHUNK = 1 << 15


def all_masks(n_tokens: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """``(stop - start, n_tokens)`` bool: masks whose bit pattern is the row index."""
    stop = (1 << n_tokens) if stop is None else stop
    codes = np.arange(start, stop, dtype=np.int64)[:, None]
    return ((codes >> np.arange(n_tokens, dtype=np.int64)) & 1).astype(bool)


def brute_force_masks(unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """Minimiser (union of all exact minimisers) per sample by enumeration, ``(B, H, W)`` bool.

    Energies are compared exactly (see the module docstring), for any float64 input.
    """
    b, height, width = unary.shape
    out = np.zeros((b, height, width), dtype=bool)
    for i in range(b):
        out[i] = _brute_force_map(unary[i], pairwise[i])
    return out


def _brute_force_map(unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """Union of the exact minimisers of one map ``(H, W)``, ``(K, H, W)``."""
    height, width = unary.shape
    n = height * width
    src, dst, weights = grid_edges(pairwise)
    with np.errstate(over="ignore", invalid="ignore"):
        bound = (n + len(weights) + 4) * 2.0**-52 * (np.abs(unary).sum() + np.abs(weights).sum())
    codes = _float_candidates(unary, pairwise, n, 2 * bound)
    best, union = None, np.zeros(n, dtype=bool)
    ints = exact_integers(np.concatenate([unary.ravel(), weights]))
    for start in range(0, len(codes), _CHUNK):
        masks = _masks_of(codes[start:start + _CHUNK], n)
        exact = _exact_energies(masks, ints[:n], ints[n:], src, dst)
        low = exact.min()
        at_low = exact == low
        if best is None or low < best:
            best, union = low, masks[at_low].any(0)
        elif low == best:
            union |= masks[at_low].any(0)
    return union.reshape(height, width)


def _float_candidates(unary: np.ndarray, pairwise: np.ndarray, n: int,
                      slack: float) -> np.ndarray:
    """Codes of the masks whose float energy is within ``slack`` of the float minimum;
    all masks when the bound is not finite (float sums overflow)."""
    height, width = unary.shape
    if not np.isfinite(slack):
        return np.arange(1 << n, dtype=np.int64)
    kept_codes, kept_values, best = [], [], np.inf
    for start in range(0, 1 << n, _CHUNK):
        stop = min(start + _CHUNK, 1 << n)
        masks = all_masks(n, start, stop)
        count = len(masks)
        e = discrete_energy(np.broadcast_to(unary, (count, height, width)),
                            np.broadcast_to(pairwise, (count, *pairwise.shape)),
                            masks.reshape(count, height, width))
        best = min(best, float(e.min()))
        near = np.flatnonzero(e <= best + slack)
        kept_codes.append(near + start)
        kept_values.append(e[near])
    codes, values = np.concatenate(kept_codes), np.concatenate(kept_values)
    return codes[values <= best + slack]


def _masks_of(codes: np.ndarray, n_tokens: int) -> np.ndarray:
    return ((codes[:, None] >> np.arange(n_tokens, dtype=np.int64)) & 1).astype(bool)


def _exact_energies(masks: np.ndarray, theta: list[int], weights: list[int],
                    src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Integer energies ``(c,)`` (one positive multiple of the true ones) of ``masks (c, n)``:
    int64 when no sum can overflow, else Python ints (object array)."""
    cut = masks[:, src] != masks[:, dst]
    terms = len(theta) + len(weights)
    if max(map(abs, theta + weights), default=0) * max(terms, 1) < 2**62:
        total = masks.astype(np.int64) @ np.array(theta, np.int64)
        if weights:
            total = total + cut.astype(np.int64) @ np.array(weights, np.int64)
        return total
    total = masks.astype(object) @ np.array(theta, dtype=object)
    if weights:
        total = total + cut.astype(object) @ np.array(weights, dtype=object)
    return total


def _run(unary: np.ndarray, pairwise: np.ndarray) -> dict:
    return {"mask": brute_force_masks(unary, pairwise)}


SPEC = register(BackendSpec(
    name="brute", run=_run, exact=True, canonical=True, needs_submodular=False, max_tokens=MAX_TOKENS,
    description="exhaustive search over all masks (H*W <= 20); test oracle",
))
