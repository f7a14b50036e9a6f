"""``ersm path`` and ``ersm.jobs.path_files``: threshold files, resume, errors, executors."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

import ersm
from ersm.cli.main import main
from ersm.io import load_energy, save_energy
from ersm.jobs.path_files import load_thresholds, path_files
from ersm.testing import random_grid_energy


def _path(*args: str) -> int:
    return main(["path", *args])


def _assert_matches_solve_path(inputs, out_dir, lam_min=-np.inf, lam_max=np.inf):
    for path in inputs:
        want = ersm.solve_path(load_energy(path), lam_min, lam_max)
        got = load_thresholds(out_dir / f"{path.stem}.npz")
        np.testing.assert_array_equal(got["thresholds"], np.asarray(want.thresholds))
        assert (got["lam_min"], got["lam_max"]) == (lam_min, lam_max)


def test_smoke(energy_dir, tmp_path, capsys):
    assert _path(str(energy_dir), "--out", str(tmp_path / "out"), "--quiet") == 0
    out, err = capsys.readouterr()
    assert "3 files: 3 solved, 0 skipped" in out and err == ""
    _assert_matches_solve_path(sorted(energy_dir.iterdir()), tmp_path / "out")


def test_resume_and_range_change(energy_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert _path(str(energy_dir), "-o", str(out), "-q") == 0
    assert _path(str(energy_dir), "-o", str(out), "-q") == 0
    assert "0 solved, 3 skipped" in capsys.readouterr().out
    (out / "e1.npz").write_bytes(b"truncated")  # a corrupt output is redone
    assert _path(str(energy_dir), "-o", str(out), "-q") == 0
    assert "1 solved, 2 skipped" in capsys.readouterr().out
    # another range is another result: everything is redone
    assert _path(str(energy_dir), "-o", str(out), "-q", "--lam-min", "-1", "--lam-max", "1") == 0
    assert "3 solved, 0 skipped" in capsys.readouterr().out
    _assert_matches_solve_path(sorted(energy_dir.iterdir()), out, -1.0, 1.0)
    # an input newer than its output is redone
    future = time.time() + 100
    os.utime(energy_dir / "e2.npz", (future, future))
    report = path_files([energy_dir], out, -1.0, 1.0, progress=False)
    assert [p.name for p in report.solved] == ["e2.npz"] and len(report.skipped) == 2


def test_unbatched_and_pt(tmp_path):
    base = random_grid_energy(batch=1, height=3, width=4, seed=3)
    flat = save_energy(tmp_path / "flat.npz", ersm.GridEnergy(base.unary[0], base.pairwise[0]))
    tensor = save_energy(tmp_path / "t.pt", ersm.GridEnergy(torch.from_numpy(base.unary),
                                                           torch.from_numpy(base.pairwise)))
    report = path_files([flat, tensor], tmp_path / "out", progress=False)
    assert report.ok
    assert load_thresholds(tmp_path / "out" / "flat.npz")["thresholds"].shape == (3, 4)
    assert load_thresholds(tmp_path / "out" / "t.npz")["thresholds"].shape == (1, 3, 4)
    _assert_matches_solve_path([flat, tensor], tmp_path / "out")


def test_per_file_errors_exit_1(energy_dir, bad_file, tmp_path, capsys):
    missing = tmp_path / "missing.pt"
    negative = save_energy(tmp_path / "neg.npz",
                           ersm.GridEnergy(np.zeros((2, 2)), -np.ones((2, 2, 2))))
    assert _path(str(energy_dir), str(missing), str(negative), "-o", str(tmp_path / "out")) == 1
    out, err = capsys.readouterr()
    assert "6 files: 3 solved, 0 skipped (already done), 3 failed" in out
    errors = err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
    assert any("negative weights" in line for line in errors)
    assert len(list((tmp_path / "out").iterdir())) == 3


def test_workers_2(energy_dir, tmp_path, capsys):
    assert _path(str(energy_dir), "--out", str(tmp_path / "out"), "--workers", "2", "-q") == 0
    assert "3 solved" in capsys.readouterr().out


@pytest.mark.slow
def test_dask_scheduler_address(energy_dir, tmp_path, capsys):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        code = _path(str(energy_dir), "--out", str(tmp_path / "out"), "-q",
                     "--scheduler", cluster.scheduler_address)
    assert code == 0 and "3 solved" in capsys.readouterr().out
    _assert_matches_solve_path(sorted(energy_dir.iterdir()), tmp_path / "out")


def test_exception_usage_exit_2(energy_dir, tmp_path, capsys):
    assert _path(str(energy_dir), "-o", str(tmp_path), "--lam-min", "2", "--lam-max", "1") == 2
    err = capsys.readouterr().err
    assert err.startswith("ersm path: error: lam_min must be <= lam_max") and err.count("\n") == 1
    assert _path(str(energy_dir), "--out", str(energy_dir)) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["path", str(energy_dir)])  # --out is required
    assert info.value.code == 2


def test_load_thresholds_rejects_other_files(tmp_path):
    np.savez(tmp_path / "m.npz", mask=np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="missing entry 'thresholds'"):
        load_thresholds(tmp_path / "m.npz")
    (tmp_path / "x.npz").write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a readable threshold file"):
        load_thresholds(tmp_path / "x.npz")


@pytest.mark.parametrize(("lo", "hi"), [("-inf", "-1e-3"), ("-1E3", "2.5e2"), ("-.5", "inf")])
def test_negative_exponent_and_infinite_range_values(energy_dir, tmp_path, lo, hi):
    """``--lam-min -inf`` / ``-1e3`` are values, not option names (argparse alone only knows
    ``-1`` and ``-1.5`` as negative numbers)."""
    assert _path(str(energy_dir), "-o", str(tmp_path / "o"), "-q", "--lam-min", lo,
                 "--lam-max", hi) == 0
    _assert_matches_solve_path(sorted(energy_dir.iterdir()), tmp_path / "o", float(lo), float(hi))


def test_potts_file_and_directory_in_the_way_named_per_file(energy_dir, tmp_path, capsys):
    potts = save_energy(tmp_path / "in" / "potts.npz",
                        ersm.PottsEnergy(np.zeros((3, 2, 2)), np.ones((2, 2, 2))))
    out = tmp_path / "out"
    (out / "e0.npz").mkdir(parents=True)
    assert _path(str(potts), str(energy_dir / "e0.npz"), "-o", str(out), "-q") == 1
    err = capsys.readouterr().err
    assert "potts.npz: a multi-label (Potts) energy" in err and "need a binary energy" in err
    assert "output is a directory" in err and ".tmp" not in err and "Traceback" not in err
