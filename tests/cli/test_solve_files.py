"""``solve_files``: directories, equality with ``ersm.solve``, resume, errors, executors."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

import ersm
from ersm.io import load_energy, load_mask, mask_path, save_energy
from ersm.jobs import solve_files
from ersm.jobs.inputs import collect_inputs
from ersm.testing import random_grid_energy

from cli_helpers import BACKEND, write_energies


def _assert_outputs_match_solve(inputs, out_dir, backend=BACKEND):
    for path in inputs:
        want = ersm.solve(load_energy(path), backend=backend)
        got = load_mask(mask_path(out_dir, path))
        np.testing.assert_array_equal(got.mask, np.asarray(want.mask))
        np.testing.assert_array_equal(got.energy, np.asarray(want.energy))
        assert got.backend == backend


def test_solve_directory_matches_solve(energy_dir, tmp_path):
    inputs = sorted(energy_dir.iterdir())
    report = solve_files([energy_dir], tmp_path / "out", backend=BACKEND, progress=False)
    assert report.ok and report.solved == inputs and not report.skipped
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["e0.npz", "e1.npz", "e2.npz"]
    _assert_outputs_match_solve(inputs, tmp_path / "out")
    assert "3 files: 3 solved, 0 skipped" in report.summary()


def test_unbatched_and_pt_inputs_keep_their_shape(tmp_path):
    base = random_grid_energy(batch=1, height=3, width=4, seed=7)
    flat = save_energy(tmp_path / "flat.npz", ersm.GridEnergy(base.unary[0], base.pairwise[0]))
    tensor = save_energy(tmp_path / "tensor.pt", ersm.GridEnergy(torch.from_numpy(base.unary),
                                                                 torch.from_numpy(base.pairwise)))
    report = solve_files([flat, tensor], tmp_path / "out", backend=BACKEND, progress=False)
    assert report.ok
    assert load_mask(tmp_path / "out" / "flat.npz").mask.shape == (3, 4)
    assert load_mask(tmp_path / "out" / "tensor.npz").energy.shape == (1,)
    _assert_outputs_match_solve([flat, tensor], tmp_path / "out")


def test_default_backend_is_graphcut(energy_dir, tmp_path):
    report = solve_files([energy_dir / "e0.npz"], tmp_path / "out", progress=False)
    assert report.ok
    _assert_outputs_match_solve([energy_dir / "e0.npz"], tmp_path / "out", backend="graphcut")


def test_resume_skips_valid_and_redoes_corrupt_outputs(energy_dir, tmp_path):
    out = tmp_path / "out"
    solve_files([energy_dir], out, backend=BACKEND, progress=False)
    past = time.time() + 10  # outputs stamped in the future: "untouched" is unambiguous
    for name in ("e0.npz", "e1.npz"):
        os.utime(out / name, (past, past))
    truncated = out / "e2.npz"
    truncated.write_bytes(truncated.read_bytes()[:60])  # a writer killed half-way
    os.utime(truncated, (past, past))
    report = solve_files([energy_dir], out, backend=BACKEND, progress=False)
    assert [p.name for p in report.skipped] == ["e0.npz", "e1.npz"]
    assert [p.name for p in report.solved] == ["e2.npz"]
    assert (out / "e0.npz").stat().st_mtime == past and (out / "e1.npz").stat().st_mtime == past
    _assert_outputs_match_solve(sorted(energy_dir.iterdir()), out)


def test_resume_redoes_outputs_of_another_backend_or_older_than_input(energy_dir, tmp_path):
    out = tmp_path / "out"
    solve_files([energy_dir], out, backend=BACKEND, progress=False)
    old = time.time() - 100
    os.utime(out / "e0.npz", (old, old))  # input changed after the output was written
    report = solve_files([energy_dir], out, backend=BACKEND, progress=False)
    assert [p.name for p in report.solved] == ["e0.npz"]
    report = solve_files([energy_dir], out, backend="graphcut", progress=False)
    assert len(report.solved) == 3
    report = solve_files([energy_dir], out, backend="graphcut", progress=False, overwrite=True)
    assert len(report.solved) == 3 and not report.skipped


def test_bad_input_reported_others_solved(energy_dir, bad_file, tmp_path):
    errors = []
    report = solve_files([energy_dir, tmp_path / "missing.npz"], tmp_path / "out", backend=BACKEND,
                         progress=False, on_error=lambda path, msg: errors.append(path))
    assert not report.ok and len(report.solved) == 3
    assert set(report.failed) == {bad_file, tmp_path / "missing.npz"}
    assert "EnergyFileError" in report.failed[bad_file] and "broken.npz" in report.failed[bad_file]
    assert "FileNotFoundError" in report.failed[tmp_path / "missing.npz"]
    assert sorted(errors) == sorted(report.failed)
    assert not (tmp_path / "out" / "broken.npz").exists()


def test_negative_weights_reported_per_file(tmp_path):
    energy = random_grid_energy(seed=8)
    path = save_energy(tmp_path / "neg.npz", ersm.GridEnergy(energy.unary, -energy.pairwise))
    report = solve_files([path], tmp_path / "out", backend=BACKEND, progress=False)
    assert "negative weights" in report.failed[path]


def test_workers_2_process_pool(energy_dir, bad_file, tmp_path):
    report = solve_files([energy_dir], tmp_path / "out", backend=BACKEND, workers=2, progress=False)
    assert len(report.solved) == 3 and list(report.failed) == [bad_file]
    _assert_outputs_match_solve(report.solved, tmp_path / "out")


@pytest.mark.slow
def test_dask_local_cluster(energy_dir, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    start = time.perf_counter()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        report = solve_files([energy_dir], tmp_path / "out", backend=BACKEND, scheduler=client,
                             progress=False)
    assert report.ok and len(report.solved) == 3
    _assert_outputs_match_solve(report.solved, tmp_path / "out")
    assert time.perf_counter() - start < 30


def test_collect_inputs_sorted_and_filtered(tmp_path):
    write_energies(tmp_path, count=2, suffix=".pt")
    write_energies(tmp_path, count=1)
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".e9.npz.0123.tmp").write_bytes(b"")  # an interrupted atomic write
    (tmp_path / "sub").mkdir()
    files = collect_inputs([tmp_path, tmp_path / "e0.npz", tmp_path / "extra.npz"])
    assert [p.name for p in files] == ["e0.npz", "e0.pt", "e1.pt", "extra.npz"]


def test_two_inputs_one_output_fail_alone(tmp_path):
    a = write_energies(tmp_path / "a", count=2)
    b = write_energies(tmp_path / "b", count=1, suffix=".pt")
    report = solve_files(a + b, tmp_path / "out", backend=BACKEND, progress=False)
    assert sorted(report.failed) == sorted([a[0], b[0]]) and report.solved == [a[1]]
    assert all("would all be written to" in m and "e0.npz" in m for m in report.failed.values())


def test_exception_output_would_overwrite_input(energy_dir):
    with pytest.raises(ValueError, match="would overwrite the input"):
        solve_files([energy_dir], energy_dir, backend=BACKEND, progress=False)


def test_exception_unknown_backend_and_workers(energy_dir, tmp_path):
    with pytest.raises(ValueError, match="backend must be one of"):
        solve_files([energy_dir], tmp_path / "out", backend="nope", progress=False)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        solve_files([energy_dir], tmp_path / "out", backend=BACKEND, workers=0, progress=False)
