"""Executors: chunking, per-item errors through chunks, one kernel thread per worker."""

from __future__ import annotations

import math

import pytest

from ersm.core import parallel
from ersm.jobs.executors import MAX_CHUNK, chunked, map_processes, run_chunk


def test_chunked_covers_items_in_order():
    items = list(range(1000))
    chunks = chunked(items, 2)
    assert [x for c in chunks for x in c] == items
    assert max(map(len, chunks)) <= MAX_CHUNK and len(chunked([], 2)) == 0
    assert [len(c) for c in chunked(list(range(3)), 4)] == [1, 1, 1]


def test_run_chunk_returns_errors_in_place():
    results = run_chunk(math.sqrt, [4.0, -1.0, 9.0])
    assert results[0] == 2.0 and isinstance(results[1], ValueError) and results[2] == 3.0


def test_set_num_threads_overrides_environment(monkeypatch):
    monkeypatch.setenv("ERSM_NUM_THREADS", "3")
    try:
        assert parallel.num_threads() == 3
        parallel.set_num_threads(1)
        assert parallel.num_threads() == 1 and parallel.default_num_threads() == 3
    finally:
        parallel.set_num_threads(None)
    assert parallel.num_threads() == 3
    with pytest.raises(ValueError, match="threads must be >= 1"):
        parallel.set_num_threads(0)


def test_map_processes_all_items_and_errors():
    items = [float(x) for x in range(-3, 40)]
    got = dict(map_processes(math.sqrt, items, 2))
    assert sorted(got) == items
    assert all(isinstance(got[x], ValueError) for x in items if x < 0)
    assert all(got[x] == math.sqrt(x) for x in items if x >= 0)
    assert parallel._OVERRIDE is None  # this process's setting restored
