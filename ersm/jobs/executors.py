"""Run one function over many items in-process, in a process pool or on Dask.

All three yield ``(item, result_or_exception)`` as tasks finish, so the caller handles
progress and errors the same way whatever runs the tasks. Exceptions raised *around*
the task (a crashed worker, a lost Dask worker) come back as the exception object.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

from ..core.optional import require

T = TypeVar("T")
R = TypeVar("R")

LOCAL = "local"
"""``scheduler`` value that starts a throw-away Dask ``LocalCluster``."""


def _exit_with_parent(parent_pid: int, poll_seconds: float = 1.0) -> None:
    """Exit this worker once its parent is gone (e.g. ``kill -9``), instead of idling on."""
    while os.getppid() == parent_pid:
        time.sleep(poll_seconds)
    os._exit(1)


def _init_worker(n_threads: int, parent_pid: int) -> None:
    """Pool initializer: share the cores between workers (ersm's kernel threads, Numba's and
    torch's); die with the parent."""
    import numba

    from ..core import parallel

    parallel.set_num_threads(n_threads)
    numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n_threads)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def map_serial(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R | BaseException]]:
    """Run ``fn`` on each item in this process, in order."""
    for item in items:
        try:
            yield item, fn(item)
        except Exception as exc:
            yield item, exc


def map_processes(fn: Callable[[T], R], items: Sequence[T],
                  workers: int) -> Iterator[tuple[T, R | BaseException]]:
    """Run ``fn`` in a local pool of ``workers`` processes (``spawn``: safe with Numba threads).

    Pending tasks are cancelled if the consumer stops early (e.g. Ctrl-C).
    """
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(threads, os.getpid())) as pool:
        futures = {pool.submit(fn, item): item for item in items}
        try:
            for future in as_completed(futures):
                exc = future.exception()
                yield futures[future], exc if exc is not None else future.result()
        finally:
            for future in futures:
                future.cancel()


@contextmanager
def dask_client(scheduler: Any, workers: int = 2) -> Iterator[Any]:
    """A ``dask.distributed.Client`` for ``scheduler``.

    Args:
        scheduler: an address (``"tcp://host:8786"``), :data:`LOCAL` to start a
            ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)`` for
            the duration, or an existing ``Client`` (used as is, not closed).
        workers: worker processes of the local cluster.
    """
    distributed = require("dask.distributed", extra="dist")
    if isinstance(scheduler, distributed.Client):
        yield scheduler
    elif scheduler == LOCAL:
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            yield client
    else:
        with distributed.Client(scheduler) as client:
            yield client


def map_dask(fn: Callable[[T], R], items: Sequence[T], scheduler: Any,
             workers: int = 2) -> Iterator[tuple[T, R | BaseException]]:
    """Run ``fn`` on a Dask distributed cluster (``client.map`` + ``as_completed``).

    Workers must be able to import ``fn`` (ersm installed) and see the files it reads
    and writes (a shared file system for remote clusters).
    """
    distributed = require("dask.distributed", extra="dist")
    with dask_client(scheduler, workers) as client:
        futures = client.map(fn, list(items), pure=False)
        by_key = {future.key: item for future, item in zip(futures, items)}
        try:
            for future in distributed.as_completed(futures):
                try:
                    yield by_key[future.key], future.result()
                except Exception as exc:
                    yield by_key[future.key], exc
                future.release()
        finally:
            client.cancel([f for f in futures if not f.done()])


def map_unordered(fn: Callable[[T], R], items: Sequence[T], workers: int = 1,
                  scheduler: Any = None) -> Iterator[tuple[T, R | BaseException]]:
    """Dispatch to Dask when ``scheduler`` is given, else a process pool when
    ``workers > 1``, else this process. Yields ``(item, result_or_exception)``.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if scheduler is not None:
        return map_dask(fn, items, scheduler, workers=max(workers, 2))
    if workers > 1 and len(items) > 1:
        return map_processes(fn, items, min(workers, len(items)))
    return map_serial(fn, items)
