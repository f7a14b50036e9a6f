"""``njit`` for ersm's kernels, with an on-disk cache keyed by all kernel sources.

Numba invalidates a cached function only when *its own* source file changes. ersm's
kernels inline jitted helpers from other modules (the vectorised sigmoid, the mean-field
sweep used by the backward) and freeze other modules' constants (the edge offsets), so
after such a module changed (an upgrade, an edit), Numba would silently load stale
machine code for the modules that did not change. This ``njit``
is :func:`numba.njit`, except that with ``cache=True`` the cache lives in a directory
named after a hash of every file in :data:`KERNEL_SOURCES`: any change to any of them
starts a fresh cache. The directory is under ``NUMBA_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/ersm`` (default ``~/.cache/ersm``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numba
from numba.core import config

_PACKAGE = Path(__file__).parent.parent
KERNEL_SOURCES = (
    "core/numba_cache.py",
    "energy/edge_span.py",
    "energy/offsets.py",
    "energy/potts_sum.py",
    "solvers/kernels/bk.py",
    "solvers/kernels/bk_reuse.py",
    "solvers/kernels/expansion.py",
    "solvers/kernels/grid_common.py",
    "solvers/kernels/potts_meanfield.py",
    "solvers/kernels/push_relabel.py",
    "solvers/kernels/meanfield/_numba_math.py",
    "solvers/kernels/meanfield/numba_kernel.py",
    "solvers/kernels/meanfield/numba_autograd.py",
    "solvers/path/kernel.py",
)
"""Files (relative to the package) whose code or constants end up in compiled kernels;
``tests/test_numba_cache.py`` checks that every module importing numba is listed."""


@functools.lru_cache(maxsize=None)
def cache_dir() -> str:
    """The cache directory for this version of the kernel sources."""
    digest = hashlib.sha256()
    for name in KERNEL_SOURCES:
        digest.update(name.encode())
        digest.update((_PACKAGE / name).read_bytes())
    root = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ersm")
    return os.path.join(root, f"numba-{numba.__version__}-{digest.hexdigest()[:16]}")


@contextlib.contextmanager
def _caching_into(path: str) -> Iterator[None]:
    """Numba picks the cache location when a cached function is created: point it here."""
    previous = config.CACHE_DIR
    config.CACHE_DIR = path
    try:
        yield
    finally:
        config.CACHE_DIR = previous


def njit(function: Callable[..., Any] | None = None, **options: Any) -> Any:
    """:func:`numba.njit` (bare ``@njit`` or ``@njit(**options)``) with the cache in
    :func:`cache_dir` when ``cache=True``."""

    def decorate(fn: Callable[..., Any]) -> Any:
        if not options.get("cache"):
            return numba.njit(**options)(fn)
        with _caching_into(cache_dir()):
            return numba.njit(**options)(fn)

    return decorate if function is None else decorate(function)
