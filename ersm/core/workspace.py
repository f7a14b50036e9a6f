"""Per-thread scratch buffers kept between kernel calls (a small memory pool).

A kernel that needs large scratch (α-expansion keeps a residual graph per label: about
``L · 8 · (3K + 2)`` bytes per token) pays for fresh memory on every call: the pages of
a new ``mmap`` fault in one by one (measured 8–18 % of a 256² Potts solve). Solving many
maps of one shape (a batch, a data set, a training loop) can reuse the buffers of the last
call instead, as CuPy's memory pool reuses device memory.

Each thread keeps, per kernel name, the buffers of its last call and their key (the
shapes); a call with another key drops them and makes new ones. Buffers larger than
``ERSM_WORKSPACE_MB`` (default 1024) are not kept. :func:`free_workspace` drops the
buffers of every thread (a kernel running now keeps its own until it returns); a thread's
buffers also go when the thread ends. No buffer is handed to two threads, so concurrent
callers never see each other's scratch.

Kept memory: up to one call's scratch per thread and kernel (``graphcut``: 61 / 91 bytes
per token at 4 / 8-connectivity, e.g. ~95 MB for a 1024² 8-connected map; ``expansion``:
the figure above). Call ``ersm.free_workspace()`` after a large solve to hand it back, or
set ``ERSM_WORKSPACE_MB`` lower (``0``: keep nothing).
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Callable, Hashable

import numpy as np

__all__ = ["free_workspace", "workspace"]


class _Cache(dict):
    """One thread's buffers: ``name -> (key, buffers)`` (a dict that can be weakly held)."""

    __hash__ = object.__hash__  # by identity, for the weak set


_LOCAL = threading.local()
_ALL: "weakref.WeakSet[_Cache]" = weakref.WeakSet()
_LOCK = threading.Lock()


def _limit_bytes() -> int:
    """The largest workspace kept, from ``ERSM_WORKSPACE_MB`` (default 1024)."""
    value = os.environ.get("ERSM_WORKSPACE_MB", "")
    return int(value) * 2**20 if value.isdigit() else 2**30


def _nbytes(buffers: Any) -> int:
    """Total bytes of the arrays in a (nested) tuple."""
    if isinstance(buffers, np.ndarray):
        return buffers.nbytes
    if isinstance(buffers, (tuple, list)):
        return sum(_nbytes(b) for b in buffers)
    return 0


def workspace(name: str, key: Hashable, make: Callable[[], Any]) -> Any:
    """The calling thread's buffers for kernel ``name``: those of its last call when
    that call had the same ``key``, else ``make()`` (kept for the next call unless larger
    than ``ERSM_WORKSPACE_MB``). The kernel must leave them valid for its next call."""
    cache = getattr(_LOCAL, "cache", None)
    if cache is None:
        cache = _LOCAL.cache = _Cache()
        with _LOCK:
            _ALL.add(cache)
    held = cache.pop(name, None)  # out first: old buffers of another key go before make()
    if held is not None and held[0] == key:
        cache[name] = held
        return held[1]
    buffers = make()
    if _nbytes(buffers) <= _limit_bytes():
        cache[name] = (key, buffers)
    return buffers


def free_workspace() -> None:
    """Drop the buffers every thread keeps between kernel calls."""
    with _LOCK:
        caches = list(_ALL)
    for cache in caches:
        cache.clear()
