"""``brute``: exhaustive search over all ``2^(H·W)`` masks (tiny grids; test oracle).

Ties: returns the union of all exact minimisers, which is itself a minimiser (the
minimisers of a submodular energy form a lattice) and equals the canonical
maximal-keep cut returned by ``graphcut``.
"""

from __future__ import annotations

import numpy as np

from ...energy.evaluate import discrete_energy
from ..registry import BackendSpec, register

MAX_TOKENS = 20
_CHUNK = 1 << 15


def all_masks(n_tokens: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """``(stop - start, n_tokens)`` bool: masks whose bit pattern is the row index."""
    stop = (1 << n_tokens) if stop is None else stop
    codes = np.arange(start, stop, dtype=np.int64)[:, None]
    return ((codes >> np.arange(n_tokens, dtype=np.int64)) & 1).astype(bool)


def brute_force_masks(unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """Minimiser (union of all minimisers) per sample by enumeration, ``(B, H, W)`` bool."""
    b, height, width = unary.shape
    n = height * width
    out = np.zeros((b, height, width), dtype=bool)
    for i in range(b):
        best, union = np.inf, np.zeros(n, dtype=bool)
        for start in range(0, 1 << n, _CHUNK):
            masks = all_masks(n, start, min(start + _CHUNK, 1 << n))
            count = len(masks)
            e = discrete_energy(np.broadcast_to(unary[i], (count, height, width)),
                                np.broadcast_to(pairwise[i], (count, *pairwise.shape[1:])),
                                masks.reshape(count, height, width))
            low = e.min()
            if low < best:
                best, union = low, masks[e == low].any(0)
            elif low == best:
                union |= masks[e == low].any(0)
        out[i] = union.reshape(height, width)
    return out


def _run(unary: np.ndarray, pairwise: np.ndarray) -> dict:
    return {"mask": brute_force_masks(unary, pairwise)}


SPEC = register(BackendSpec(
    name="brute", run=_run, exact=True, canonical=True, needs_submodular=False, max_tokens=MAX_TOKENS,
    description="exhaustive search over all masks (H*W <= 20); test oracle",
))
