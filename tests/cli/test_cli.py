"""The ``ersm`` command line, called in-process through ``main(argv)``."""

from __future__ import annotations

import time

import pytest
from cli_helpers import BACKEND

import ersm
from ersm.cli.main import main
from ersm.io import load_mask


def _solve(*args: str) -> int:
    return main(["solve", *args, "--backend", BACKEND])


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and ersm.__version__ in capsys.readouterr().out


def test_backends_lists_available(capsys):
    assert main(["backends"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ersm.solvers.available()
    assert any(line.startswith("graphcut") and "[exact" in line for line in lines)


def test_solve_ok(energy_dir, tmp_path, capsys):
    assert _solve(str(energy_dir), "--out", str(tmp_path / "out"), "--quiet") == 0
    out, err = capsys.readouterr()
    assert "3 files: 3 solved, 0 skipped" in out and err == ""
    assert load_mask(tmp_path / "out" / "e1.npz").backend == BACKEND
    assert _solve(str(energy_dir), "--out", str(tmp_path / "out")) == 0  # resume: all done
    assert "0 solved, 3 skipped" in capsys.readouterr().out


def test_solve_bad_file_exit_1(energy_dir, bad_file, tmp_path, capsys):
    missing = tmp_path / "missing.pt"
    assert _solve(str(energy_dir), str(missing), "-o", str(tmp_path / "out")) == 1
    out, err = capsys.readouterr()
    assert "5 files: 3 solved, 0 skipped (already done), 2 failed" in out
    errors = err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("error: ") for line in errors)
    assert any(str(bad_file) in line for line in errors)
    assert any(str(missing) in line for line in errors)
    assert len(list((tmp_path / "out").iterdir())) == 3


def test_solve_workers_2(energy_dir, tmp_path, capsys):
    assert _solve(str(energy_dir), "--out", str(tmp_path / "out"), "--workers", "2") == 0
    assert "3 solved" in capsys.readouterr().out


@pytest.mark.slow
def test_solve_scheduler_address(energy_dir, tmp_path, capsys):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        code = _solve(str(energy_dir), "--out", str(tmp_path / "out"),
                      "--scheduler", cluster.scheduler_address)
    assert code == 0 and "3 solved" in capsys.readouterr().out


@pytest.mark.slow
def test_solve_dask_local_processes(energy_dir, tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    start = time.perf_counter()
    assert _solve(str(energy_dir), "--out", str(tmp_path / "out"), "--dask") == 0
    assert "3 solved" in capsys.readouterr().out
    assert time.perf_counter() - start < 30


def test_solve_usage_errors_exit_2(energy_dir, tmp_path, capsys):
    assert main(["solve", str(energy_dir), "--out", str(tmp_path), "--backend", "nope"]) == 2
    assert "backend must be one of" in capsys.readouterr().err
    assert _solve(str(energy_dir), "--out", str(energy_dir)) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["solve", str(energy_dir)])  # --out is required
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["solve", str(energy_dir), "-o", str(tmp_path), "--dask", "--scheduler", "tcp://x:1"])
