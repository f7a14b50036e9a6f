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
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
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
    # a forkserver's children are the server's, which exits with the main process
    parent = parent_pid if os.getppid() == parent_pid else os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def map_serial(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R | BaseException]]:
    """Run ``fn`` on each item in this process, in order."""
    for item in items:
        try:
            yield item, fn(item)
        except Exception as exc:
            yield item, exc


CHUNKS_PER_WORKER = 8
"""Pool and Dask tasks are chunks of items: about this many per worker (at most
:data:`MAX_CHUNK` items each), so a task's overhead (pickling, scheduling, a result
round trip) is paid per chunk, not per item, while workers still balance uneven items."""
MAX_CHUNK = 64


def chunked(items: Sequence[T], workers: int) -> list[list[T]]:
    """``items`` split in order into chunks for ``workers`` (see :data:`CHUNKS_PER_WORKER`).

    Example:
        >>> [len(c) for c in chunked(list(range(10)), 1)]
        [2, 2, 2, 2, 2]
    """
    size = max(1, min(MAX_CHUNK, -(-len(items) // (workers * CHUNKS_PER_WORKER))))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def run_chunk(fn: Callable[[T], R], chunk: Sequence[T],
              threads: int | None = None) -> list[R | BaseException]:
    """``fn`` on each item of ``chunk`` (exceptions returned in place of results), in a
    worker whose batch kernels use ``threads`` threads (None: as the worker is set up)."""
    if threads is not None:
        from ..core import parallel

        if parallel.num_threads() != threads:
            parallel.set_num_threads(threads)
    results: list[R | BaseException] = []
    for item in chunk:
        try:
            results.append(fn(item))
        except Exception as exc:
            results.append(exc)
    return results


def threads_per_worker(workers: int) -> int:
    """Kernel threads for each of ``workers`` local processes: the CPUs shared out, >= 1."""
    from ..core import parallel

    return max(1, parallel.default_num_threads() // workers)


@contextmanager
def _workers_skip_main(fn: Callable[..., Any]) -> Iterator[None]:
    """While workers are spawned, hide where ``__main__`` came from, so they do not run the
    main program again (``ersm``'s command line imports torch: seconds per worker). Only
    when ``fn`` does not live in ``__main__`` (then the workers need it)."""
    main = sys.modules.get("__main__")
    target = getattr(fn, "func", fn)
    if main is None or getattr(target, "__module__", "__main__") == "__main__":
        yield
        return
    missing = object()
    saved = {name: main.__dict__.get(name, missing) for name in ("__spec__", "__file__")}
    main.__spec__ = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                main.__dict__.pop(name, None)
            else:
                main.__dict__[name] = value


START_METHOD_ENV = "ERSM_START_METHOD"
"""Environment variable naming the process start method of local pools (``fork``,
``forkserver`` or ``spawn``), overriding :func:`start_method`'s choice."""


def start_method() -> str:
    """How local pool workers start: ``ERSM_START_METHOD`` if set, else ``fork`` where the
    platform has it as a safe choice (Linux) and this process holds no CUDA context, else
    ``spawn``.

    A forked worker inherits this process's imports and compiled kernels, so it starts in
    milliseconds; a spawned one imports ersm and loads the kernels from the Numba cache
    again (about a second of CPU each, as much as hundreds of small files).

    Raises:
        ValueError: ``ERSM_START_METHOD`` names no start method of this platform.
    """
    methods = multiprocessing.get_all_start_methods()
    chosen = os.environ.get(START_METHOD_ENV, "").strip().lower()
    if chosen:
        if chosen not in methods:
            raise ValueError(f"{START_METHOD_ENV} must be one of {methods}, got {chosen!r}")
        return chosen
    return "fork" if sys.platform.startswith("linux") and not _holds_gpu_context() else "spawn"


def _holds_gpu_context() -> bool:
    """A CUDA context (torch or CuPy) lives in this process: forked children cannot use it."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return True
    return "cupy" in sys.modules


def map_processes(fn: Callable[[T], R], items: Sequence[T],
                  workers: int) -> Iterator[tuple[T, R | BaseException]]:
    """Run ``fn`` on ``workers`` processes: this one and a pool of ``workers - 1`` others
    (:func:`start_method`).

    Items go in chunks (:func:`chunked`): the pool takes them from the front, this process
    from the back. With ``fork`` this process first runs ``fn`` on the first item, so the
    workers inherit what it imported and compiled and start at once; with ``spawn`` it works
    while the pool's processes start. Every process's kernels get their share of the CPUs
    (:func:`threads_per_worker`: one each when there are as many workers as CPUs).
    Pending tasks are cancelled if the consumer stops early (e.g. Ctrl-C).
    """
    from ..core import parallel

    threads = threads_per_worker(workers)
    method = start_method()
    saved_threads = parallel._OVERRIDE
    parallel.set_num_threads(threads)
    try:
        if method == "fork":  # warm this process: the forked workers inherit it
            yield from zip(items[:1], run_chunk(fn, items[:1]))
            items = items[1:]
            method = start_method()  # the first item may have opened a GPU context
        yield from _pool_map(fn, items, workers, threads, method)
    finally:
        parallel.set_num_threads(saved_threads)


def _pool_map(fn: Callable[[T], R], items: Sequence[T], workers: int, threads: int,
              method: str) -> Iterator[tuple[T, R | BaseException]]:
    """The body of :func:`map_processes` once this process is set up."""
    chunks = chunked(items, workers)
    with ProcessPoolExecutor(max_workers=workers - 1,
                             mp_context=multiprocessing.get_context(method),
                             initializer=_init_worker, initargs=(threads, os.getpid())) as pool:
        with _workers_skip_main(fn):
            futures = [pool.submit(run_chunk, fn, chunk) for chunk in chunks]
        by_future = dict(zip(futures, chunks))
        try:
            left = list(futures)
            while left:
                done = [f for f in left if f.done()]
                for future in done:
                    left.remove(future)
                    yield from _chunk_results(future, by_future[future])
                stolen = next((f for f in reversed(left) if f.cancel()), None)
                if stolen is not None:  # still queued: run it here
                    left.remove(stolen)
                    yield from zip(by_future[stolen], run_chunk(fn, by_future[stolen]))
                elif left and not done:
                    wait(left, return_when=FIRST_COMPLETED)
        finally:
            for future in futures:
                future.cancel()


def _chunk_results(future: Any, chunk: list[T]) -> Iterator[tuple[T, Any]]:
    if future.cancelled():
        return
    exc = future.exception()
    yield from zip(chunk, [exc] * len(chunk) if exc is not None else future.result())


@contextmanager
def dask_client(scheduler: Any, workers: int = 2,
                while_starting: Callable[[], Any] | None = None) -> Iterator[Any]:
    """A ``dask.distributed.Client`` for ``scheduler``.

    Args:
        scheduler: an address (``"tcp://host:8786"``), :data:`LOCAL` to start a
            ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)`` for
            the duration, or an existing ``Client`` (used as is, not closed).
        workers: worker processes of the local cluster.
        while_starting: called in this thread while a :data:`LOCAL` cluster starts in
            another (ignored for other schedulers).
    """
    distributed = require("dask.distributed", extra="dist")
    if isinstance(scheduler, distributed.Client):
        yield scheduler
    elif scheduler == LOCAL:
        with _start_local_cluster(distributed, workers, while_starting) as cluster, \
                distributed.Client(cluster) as client:
            yield client
    else:
        with distributed.Client(scheduler) as client:
            yield client


def _start_local_cluster(distributed: Any, workers: int,
                         while_starting: Callable[[], Any] | None) -> Any:
    """A started ``LocalCluster``; ``while_starting()`` runs here meanwhile."""
    with ThreadPoolExecutor(1, thread_name_prefix="ersm-dask-start") as starter:
        started = starter.submit(distributed.LocalCluster, n_workers=workers,
                                 threads_per_worker=1, processes=True, dashboard_address=None)
        try:
            if while_starting is not None:
                while_starting()
        except BaseException:
            with suppress(Exception):
                started.result().close()
            raise
        return started.result()


def map_dask(fn: Callable[[T], R], items: Sequence[T], scheduler: Any,
             workers: int = 2) -> Iterator[tuple[T, R | BaseException]]:
    """Run ``fn`` on a Dask distributed cluster (``client.map`` + ``as_completed``).

    Workers must be able to import ``fn`` (ersm installed) and see the files it reads
    and writes (a shared file system for remote clusters). On a :data:`LOCAL` cluster this
    process runs ``fn`` on the first item while the workers start, so kernels missing from
    the Numba cache are compiled once, here, not once in every worker (under load, workers
    busy compiling were still alive at shutdown and the nanny killed them).
    """
    distributed = require("dask.distributed", extra="dist")
    items, first = list(items), []
    head = items[:1] if scheduler == LOCAL and len(items) > 1 else []
    items = items[len(head):]

    def warm() -> None:
        first.extend(zip(head, run_chunk(fn, head)))
    with dask_client(scheduler, workers, while_starting=warm) as client:
        yield from first
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        threads = threads_per_worker(workers) if scheduler == LOCAL else None
        chunks = chunked(items, n_workers)
        futures = client.map(run_chunk, [fn] * len(chunks), chunks, [threads] * len(chunks),
                             pure=False)
        by_key = {future.key: chunk for future, chunk in zip(futures, chunks)}
        try:
            for future in distributed.as_completed(futures):
                chunk = by_key[future.key]
                try:
                    results = future.result()
                except Exception as exc:
                    results = [exc] * len(chunk)
                yield from zip(chunk, results)
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
