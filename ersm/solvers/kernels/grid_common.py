"""Numba helpers shared by the grid max-flow kernels (:mod:`.bk`, :mod:`.push_relabel`,
:mod:`.bk_reuse`): compile options, unsigned subscripts, direction-count types and ring
buffers."""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from ersm.core.numba_cache import njit

__all__ = ["_D4", "_D8", "_INLINE", "_NO_NRT", "_U", "_directions", "_ring_pop", "_ring_push"]


def _numba_has_option(name: str) -> bool:
    """Whether this Numba's CPU target knows the (possibly private) option ``name``."""
    try:
        from numba.core.cpu import CPUTargetOptions
    except ImportError:
        return False
    return hasattr(CPUTargetOptions, name)


# Kernels that only read/write preallocated arrays are compiled without the Numba
# runtime (``_nrt=False``): array arguments are then passed without atomic
# reference counting, which otherwise costs ~20 atomic ops per call of the
# augment/adopt helpers. The three per-step helpers of the main loop are in
# addition inlined at the Numba-IR level (``inline="always"``), which avoids
# passing ~10 array structs per call (~20% faster overall).
# ``_nrt`` is a private Numba option: where a Numba release drops it the kernels keep the
# runtime (same results, ~20% slower) instead of failing to compile.
_NO_NRT = dict(nogil=True, cache=True, **({"_nrt": False} if _numba_has_option("_nrt") else {}))
_INLINE = dict(_NO_NRT, inline="always")

#: Subscript type of the flat node / arc indices (``res[_U(i * D + d)]``). Numba adds a
#: negative-index wraparound (compare and add) to every subscript with a signed index,
#: not to unsigned ones; the indices here are never negative. Only the subscript is cast:
#: arithmetic stays signed (Numba types ``uint64 op int64`` as float64). Measured 1.3x less
#: CPU per cut on real pictures, decisions unchanged (bench/RESULTS.md, issue 15 round 7).
_U = np.uint64

#: Direction counts carried by a type: ``(0,) * D``. A kernel given one of these for its
#: ``D`` argument is compiled for that ``D`` (:func:`_directions`): its loops over the
#: directions unroll and ``i * D + d`` folds. A plain int ``D`` works too (one compilation
#: for any ``D``). Measured 1.07-1.13x less CPU per cut at 4-conn, 1.01-1.08x at 8-conn
#: (bench/RESULTS.md, issue 15 round 9).
_D4 = (0, 0, 0, 0)
_D8 = (0, 0, 0, 0, 0, 0, 0, 0)


def _directions(D):
    """The number of directions ``D``: the length of a direction tuple, or ``D`` itself."""
    return len(D) if isinstance(D, tuple) else int(D)


@overload(_directions, inline="always")
def _directions_jit(D):
    if isinstance(D, types.BaseTuple):
        count = len(D)
        return lambda D: count
    return lambda D: D


@njit(**_NO_NRT)
def _ring_push(buf, tail, node):
    """Append ``node`` to the ring buffer ``buf``; return the new tail."""
    buf[_U(tail)] = node
    tail += 1
    return 0 if tail == buf.shape[0] else tail


@njit(**_NO_NRT)
def _ring_pop(buf, head):
    """Take the node at ``head``; return ``(node, new_head)``."""
    node = buf[_U(head)]
    head += 1
    return node, (0 if head == buf.shape[0] else head)
