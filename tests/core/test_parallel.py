"""The batch thread pool: chunks cover the batch once, concurrency follows the thread count,
and switching the count does not rebuild the pool."""

from __future__ import annotations

import threading
import time

import pytest

from ersm.core import parallel


@pytest.fixture
def threads():
    yield parallel.set_num_threads
    parallel.set_num_threads(None)


@pytest.mark.parametrize("n", [2, 3, 7, 8, 50])
def test_chunks_cover_the_batch_once(threads, n):
    threads(3)
    hits: list[int] = []
    lock = threading.Lock()

    def kernel(lo, hi):
        with lock:
            hits.extend(range(lo, hi))

    parallel.run_batch(kernel, n)
    assert sorted(hits) == list(range(n))


def test_switching_thread_counts_keeps_the_pool(threads):
    threads(3)
    parallel.run_batch(lambda lo, hi: None, 8)
    pool = parallel._pool(1)
    for count in (1, 2, 3, None, 2):
        threads(count)
        parallel.run_batch(lambda lo, hi: None, 8)
    assert parallel._pool(1) is pool


def test_fewer_threads_than_the_pool_bound_concurrency(threads):
    threads(4)
    parallel.run_batch(lambda lo, hi: None, 8)  # a pool of 4
    threads(2)
    running = [0]
    most = [0]
    lock = threading.Lock()

    def kernel(lo, hi):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.005)
        with lock:
            running[0] -= 1

    parallel.run_batch(kernel, 16)
    assert most[0] <= 2


def test_kernel_errors_reach_the_caller(threads):
    threads(2)

    def kernel(lo, hi):
        raise RuntimeError(f"chunk {lo}")

    with pytest.raises(RuntimeError, match="chunk"):
        parallel.run_batch(kernel, 4)
