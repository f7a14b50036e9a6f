"""Batch parallelism for ``nogil`` Numba kernels on a persistent Python thread pool.

Numba's own ``parallel=True`` runs on an OpenMP/TBB pool whose idle threads keep
spinning after a call; on a small machine that steals the cores torch needs next
(a convolution measured ~3x slower right after a parallel graph cut). Python threads
that call ``nogil`` kernels run truly in parallel and sleep when idle, are safe to use
from several caller threads at once (Dask, data loaders), and balance uneven maps
dynamically (several chunks per thread).

The thread count is the value given to :func:`set_num_threads` if any (e.g. one per
process-pool worker, so N workers do not each use every core), else ``ERSM_NUM_THREADS``
if set, else ``NUMBA_NUM_THREADS`` if set, else the number of CPUs this process may use.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

_POOL: ThreadPoolExecutor | None = None
_LOCK = threading.Lock()
CHUNKS_PER_THREAD = 4
_OVERRIDE: int | None = None


def set_num_threads(threads: int | None) -> None:
    """Use ``threads`` threads for batch-parallel kernels in this process (None: back to
    the environment). The pool itself only grows: with fewer threads than it has, only
    that many of its threads work on a call (the others sleep), so switching back and
    forth costs no new threads and no fresh per-thread workspace.

    Raises:
        ValueError: ``threads < 1``.
    """
    global _OVERRIDE
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    with _LOCK:
        _OVERRIDE = None if threads is None else int(threads)


def num_threads() -> int:
    """Threads used for batch-parallel kernels (:func:`set_num_threads`, then
    ``ERSM_NUM_THREADS`` override the default)."""
    if _OVERRIDE is not None:
        return _OVERRIDE
    return default_num_threads()


def default_num_threads() -> int:
    """The thread count from the environment alone (``ERSM_NUM_THREADS``, then
    ``NUMBA_NUM_THREADS``, then the CPUs this process may use)."""
    for var in ("ERSM_NUM_THREADS", "NUMBA_NUM_THREADS"):
        value = os.environ.get(var)
        if value and value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _pool(threads: int) -> ThreadPoolExecutor:
    """The process's pool, with ``threads`` workers at least (a smaller one is replaced;
    its threads end once idle)."""
    global _POOL
    with _LOCK:
        if _POOL is None or _POOL._max_workers < threads:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(threads, thread_name_prefix="ersm")
        return _POOL


def _forget_pool_in_child() -> None:
    """A forked child has none of its parent's pool threads: start a fresh pool on demand."""
    global _POOL, _LOCK
    _POOL, _LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def run_batch(kernel: Callable[..., Any], batch_size: int, *args: Any) -> None:
    """Call ``kernel(start, stop, *args)`` over chunks covering ``range(batch_size)``.

    ``kernel`` must be a ``nogil`` Numba function that writes its results into arrays
    among ``args`` for samples ``start <= b < stop`` only. Single-chunk work runs inline.
    The calling thread and ``num_threads() - 1`` pool workers take the chunks in order,
    each the next one free when it is done with its last (uneven maps balance).
    """
    threads = num_threads()
    if batch_size <= 1 or threads == 1:
        if batch_size > 0:
            kernel(0, batch_size, *args)
        return
    n_chunks = min(batch_size, threads * CHUNKS_PER_THREAD)
    bounds = [batch_size * i // n_chunks for i in range(n_chunks + 1)]
    next_chunk = itertools.count()  # next() is atomic under the GIL

    def work() -> None:
        for c in iter(next_chunk.__next__, None):
            if c >= n_chunks:
                return
            kernel(bounds[c], bounds[c + 1], *args)

    # the caller takes chunks too: one thread fewer to wake, and a busy pool (other
    # callers) never stalls this call
    pool = _pool(threads - 1)
    futures = [pool.submit(work) for _ in range(min(threads, n_chunks) - 1)]
    try:
        work()
    finally:  # the workers write into ``args``: never return before they are done
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
