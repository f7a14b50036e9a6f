"""Issue 14 (7, 8): one-line errors instead of tracebacks, stale temporaries, clashing and
dangling inputs reported per file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from cli_helpers import BACKEND, write_energies

from ersm.cli.main import main
from ersm.io import clean_temporaries, ensure_directory, load_mask
from ersm.io.atomic import is_temporary, temporary_path
from ersm.jobs import solve_files
from ersm.train.checkpoint import CheckpointError, load_checkpoint


def _one_error_line(capsys, *needles: str) -> str:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(needle in lines[0] for needle in needles), lines[0]
    return lines[0]


def test_exception_data_synth_negative_n(tmp_path, capsys):
    assert main(["data", "synth", "--n", "-3", "--seed", "0", "--out", str(tmp_path / "d")]) == 2
    _one_error_line(capsys, "n must be >= 1", "-3")


def test_exception_solve_out_below_a_file(energy_dir, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    args = ["solve", str(energy_dir), "--backend", BACKEND, "-q", "--out"]
    assert main([*args, str(afile / "sub")]) == 2
    _one_error_line(capsys, "ersm solve: error:", str(afile / "sub"), "parent of it is a file")
    assert main([*args, str(afile)]) == 2
    _one_error_line(capsys, str(afile), "exists and is not a directory")


def test_exception_solve_out_permission_denied(energy_dir, tmp_path, capsys, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)  # as root, chmod would not stop us
    assert main(["solve", str(energy_dir), "--backend", BACKEND, "-q",
                 "--out", str(tmp_path / "ro" / "sub")]) == 2
    _one_error_line(capsys, "cannot create output directory", "permission denied")


def test_ensure_directory_ok(tmp_path):
    assert ensure_directory(tmp_path / "a" / "b").is_dir()
    assert ensure_directory(tmp_path / "a" / "b").is_dir()  # exists: fine


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.fixture
def bad_checkpoints(tmp_path) -> dict[str, Path]:
    import torch

    good = tmp_path / "good.pt"
    torch.save({"epoch": 1, "model": {"w": torch.zeros(2)}}, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Evil()))
    text = tmp_path / "text.pt"
    text.write_text("hello")
    wrong = tmp_path / "wrong.pt"
    torch.save([1, 2, 3], wrong)
    return {"truncated": truncated, "evil": evil, "text": text, "wrong": wrong}


@pytest.mark.parametrize("kind", ["truncated", "evil", "text", "wrong"])
def test_exception_bad_checkpoint(bad_checkpoints, kind):
    with pytest.raises(CheckpointError, match=str(bad_checkpoints[kind].name)):
        load_checkpoint(bad_checkpoints[kind])


@pytest.mark.parametrize("command", ["masks", "evaluate"])
@pytest.mark.parametrize("kind", ["truncated", "evil"])
def test_exception_cli_bad_checkpoint(bad_checkpoints, tmp_path, capsys, command, kind):
    from ersm.train.config import TrainConfig, save_config

    run = tmp_path / f"run-{kind}"
    run.mkdir()
    save_config(TrainConfig(data=str(tmp_path), out=str(run), model="ersm", classes=["a", "b"]),
                run)
    (run / "checkpoint.pt").write_bytes(bad_checkpoints[kind].read_bytes())
    data = tmp_path / "data"
    args = {"masks": ["masks", "--run", str(run), "--data", str(data), "--out",
                      str(tmp_path / "m.npz")],
            "evaluate": ["evaluate", "--run", str(run), "--data", str(data), "--out",
                         str(tmp_path / "rep"), "-q"]}[command]
    assert main(args) == 2
    _one_error_line(capsys, f"ersm {command}: error:", "checkpoint.pt")


def test_clean_temporaries(tmp_path):
    keep = tmp_path / "x.npz"
    keep.write_bytes(b"1")
    stale = temporary_path(keep)
    stale.write_bytes(b"partial")
    other = tmp_path / ".notes.tmp"
    other.write_bytes(b"")
    assert is_temporary(stale) and not is_temporary(other) and not is_temporary(keep)
    assert clean_temporaries(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.tmp", "x.npz"]
    assert clean_temporaries(tmp_path / "missing") == []


def test_solve_resume_cleans_stale_temporaries(energy_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = temporary_path(out / "e0.npz")
    stale.write_bytes(b"killed mid-write")
    report = solve_files([energy_dir], out, backend=BACKEND, progress=False)
    assert report.ok and not stale.exists()
    assert sorted(p.name for p in out.iterdir()) == ["e0.npz", "e1.npz", "e2.npz"]


def test_npz_beside_pt_fails_that_pair_only(energy_dir, tmp_path, capsys):
    write_energies(energy_dir, count=1, suffix=".pt")  # e0.pt beside e0.npz
    assert main(["solve", str(energy_dir), "--backend", BACKEND, "-q",
                 "--out", str(tmp_path / "out")]) == 1
    out, err = capsys.readouterr()
    assert "4 files: 2 solved, 0 skipped (already done), 2 failed" in out
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all("would all be written to" in line for line in lines)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["e1.npz", "e2.npz"]


def test_dangling_symlink_reported(energy_dir, tmp_path, capsys):
    (energy_dir / "gone.npz").symlink_to(tmp_path / "nowhere.npz")
    assert main(["solve", str(energy_dir), "--backend", BACKEND, "-q",
                 "--out", str(tmp_path / "out")]) == 1
    out, err = capsys.readouterr()
    assert "4 files: 3 solved" in out and "1 failed" in out
    assert "gone.npz" in err and "broken symbolic link" in err
    assert load_mask(tmp_path / "out" / "e0.npz").backend == BACKEND


def test_train_resume_cleans_stale_temporaries(tmp_path, monkeypatch):
    import ersm.train.loop as loop
    from ersm.jobs.train_run import train_run
    from ersm.train.config import TrainConfig, save_config

    run = tmp_path / "run"
    run.mkdir()
    save_config(TrainConfig(data=str(tmp_path), out=str(run)), run)
    stale = temporary_path(run / "checkpoint.pt")
    stale.write_bytes(b"killed mid-write")
    monkeypatch.setattr(loop, "train", lambda config, resume, progress: [])
    outcome = train_run({}, run, resume=True, progress=False)
    assert outcome.resumed and not stale.exists()
