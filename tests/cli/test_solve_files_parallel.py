"""``solve_files`` with ``workers=2`` (forked and spawned pools) and on a local Dask cluster:
the same outputs, resume and per-file errors as ``workers=1``."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import zipfile

import pytest

import ersm
from ersm.io import save_energy
from ersm.jobs import solve_files
from ersm.jobs.executors import LOCAL, START_METHOD_ENV, map_processes, start_method
from ersm.testing import random_grid_energy

from cli_helpers import BACKEND, write_energies

METHODS = [m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()]


@pytest.fixture
def inputs(tmp_path):
    """12 energies (several chunks per worker), a broken file, a non-submodular energy."""
    directory = tmp_path / "in"
    write_energies(directory, count=12)
    (directory / "broken.npz").write_bytes(b"not a zip archive")
    energy = random_grid_energy(seed=8)
    save_energy(directory / "neg.npz", ersm.GridEnergy(energy.unary, -energy.pairwise))
    return directory


def _members(path):
    """Each zip member's bytes (the ``.npy`` payloads; zip timestamps left out)."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _outputs(out_dir):
    return {p.name: _members(p) for p in sorted(out_dir.iterdir())}


@pytest.mark.parametrize("method", METHODS)
def test_workers_2_same_outputs_and_errors_as_workers_1(inputs, tmp_path, monkeypatch, method):
    monkeypatch.setenv(START_METHOD_ENV, method)
    one = solve_files([inputs], tmp_path / "one", backend=BACKEND, progress=False)
    two = solve_files([inputs], tmp_path / "two", backend=BACKEND, workers=2, progress=False)
    assert len(one.solved) == 12 and sorted(one.failed) == [inputs / "broken.npz", inputs / "neg.npz"]
    assert [p.name for p in two.solved] == [p.name for p in one.solved]
    assert {p.name: m for p, m in two.failed.items()} == {p.name: m for p, m in one.failed.items()}
    assert "negative weights" in two.failed[inputs / "neg.npz"]
    assert _outputs(tmp_path / "two") == _outputs(tmp_path / "one")


@pytest.mark.parametrize("method", METHODS)
def test_workers_2_resume(inputs, tmp_path, monkeypatch, method):
    monkeypatch.setenv(START_METHOD_ENV, method)
    out = tmp_path / "out"
    solve_files([inputs], out, backend=BACKEND, workers=2, progress=False)
    want = _outputs(out)
    future = time.time() + 10
    for name in ("e0.npz", "e5.npz"):
        os.utime(out / name, (future, future))
    (out / "e7.npz").write_bytes((out / "e7.npz").read_bytes()[:60])  # killed half-way
    (out / f".e9.npz.{'0' * 32}.tmp").write_bytes(b"partial")  # a killed atomic write
    os.utime(out / "e7.npz", (future, future))
    report = solve_files([inputs], out, backend=BACKEND, workers=2, progress=False)
    assert [p.name for p in report.solved] == ["e7.npz"] and len(report.skipped) == 11
    assert (out / "e0.npz").stat().st_mtime == future
    assert _outputs(out) == want


def test_start_method_default_and_override(monkeypatch):
    monkeypatch.delenv(START_METHOD_ENV, raising=False)
    assert start_method() == ("fork" if sys.platform.startswith("linux") else "spawn")
    monkeypatch.setenv(START_METHOD_ENV, "spawn")
    assert start_method() == "spawn"
    monkeypatch.setenv(START_METHOD_ENV, "threads")
    with pytest.raises(ValueError, match=START_METHOD_ENV):
        start_method()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_forked_pool_warms_this_process_first(monkeypatch):
    monkeypatch.setenv(START_METHOD_ENV, "fork")
    pids = dict(map_processes(_pid, list(range(40)), 2))
    assert sorted(pids) == list(range(40)) and pids[0] == os.getpid()


def _pid(_: int) -> int:
    return os.getpid()


@pytest.mark.slow
def test_dask_local_cluster_same_outputs_no_nanny_warning(inputs, tmp_path, capfd):
    pytest.importorskip("dask.distributed")
    one = solve_files([inputs], tmp_path / "one", backend=BACKEND, progress=False)
    dask = solve_files([inputs], tmp_path / "dask", backend=BACKEND, scheduler=LOCAL,
                       progress=False)
    assert dask.solved == one.solved and dask.failed == one.failed
    assert _outputs(tmp_path / "dask") == _outputs(tmp_path / "one")
    assert "still alive" not in capfd.readouterr().err


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_forked_worker_gets_a_fresh_kernel_thread_pool(monkeypatch):
    from ersm.core import parallel

    monkeypatch.setenv(START_METHOD_ENV, "fork")
    monkeypatch.setattr("ersm.jobs.executors.threads_per_worker", lambda workers: 2)
    parallel.set_num_threads(2)
    try:
        parallel._pool(2)  # this process's pool threads do not exist in a forked child
        got = dict(map_processes(_batch_threads, list(range(6)), 2))
    finally:
        parallel.set_num_threads(None)
    assert got == {i: 8 for i in range(6)}


def _batch_threads(_: int) -> int:
    """Runs a batch on the kernel thread pool (hangs on a pool inherited by fork)."""
    from ersm.core import parallel

    hits = []
    parallel.run_batch(lambda lo, hi: hits.extend(range(lo, hi)), 8)
    return len(hits)
