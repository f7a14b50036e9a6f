"""``ersm demo``: the picture (``--quick``) in-process, through the installed console script and
the function; the full story at toy size."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from ersm.cli.main import main
from ersm.jobs.demo import run_demo

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_outputs(out: Path) -> dict:
    assert sorted(p.name for p in out.iterdir()) == ["demo.json", "mask.png", "overlay.png"]
    for name in ("mask.png", "overlay.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    info = json.loads((out / "demo.json").read_text())
    assert imread(out / "mask.png").shape[:2] == tuple(info["shape"])
    assert 0.05 < info["mask_fraction"] < 0.95 and np.isfinite(info["energy"])
    assert info["seconds"]["total"] >= info["seconds"]["solve"] > 0
    return info


def test_demo_in_process(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--size", "96"]) == 0
    info = _check_outputs(tmp_path / "demo")
    assert info["image"] == "coffee" and info["backend"] == "graphcut" and max(info["shape"]) == 96
    assert "coffee 64x96: kept" in capsys.readouterr().out


def test_demo_console_script(tmp_path):
    script = shutil.which("ersm", path=str(Path(sys.executable).parent)) or shutil.which("ersm")
    if script is None:
        pytest.skip("the ersm console script is not installed")
    done = subprocess.run([script, "demo", "--quick", "--out", str(tmp_path / "demo"), "--image", "astronaut",
                           "--size", "64"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "astronaut" in done.stdout
    assert _check_outputs(tmp_path / "demo")["image"] == "astronaut"


def test_run_demo_segments_the_cup(tmp_path):
    result = run_demo(tmp_path, image="coffee", size=128)
    mask = imread(tmp_path / "mask.png")[..., 0] > 0.5
    assert mask.shape == (85, 128) and result.rounds >= 1
    assert mask[42, 64] and not mask[5, 5] and not mask[80, 125]  # cup kept, corners dropped
    assert abs(mask.mean() - result.mask_fraction) < 1e-9


def test_demo_exceptions(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--quick", "--image", "no-such-photo", "--out", str(tmp_path)])
    assert main(["demo", "--quick", "--size", "4", "--out", str(tmp_path)]) == 2
    assert "size must be >= 16" in capsys.readouterr().err


@pytest.fixture
def single_thread():
    """One torch and one Numba thread: a small, shared machine (and a parallel Numba region
    would leave OpenMP threads that slow torch down in this process)."""
    import numba
    import torch

    threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    numba.set_num_threads(numba_threads)
    torch.use_deterministic_algorithms(deterministic)


def test_demo_story_at_toy_size(tmp_path, capsys, single_thread):
    out = tmp_path / "story"
    assert main(["demo", "--out", str(out), "--n", "24", "--epochs", "1", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "coffee" in printed and "story done" in printed
    _check_outputs_subset(out)
    story = json.loads((out / "story.json").read_text())
    assert set(story["runs"]) == {"baseline", "ersm", "mrf"}
    for name in story["runs"]:
        assert (out / "runs" / name / "checkpoint.pt").is_file()
        assert (out / "report" / "runs" / name / "report.md").is_file()
    assert story["headline"]["baseline"]["iou.solved"] is None
    assert 0 <= story["headline"]["mrf"]["iou.solved"] <= 1
    report = (out / "report.md").read_text()
    assert "| metric | baseline | ersm | mrf |" in report
    assert "](report/compare_masks.png)" in report
    assert "### What the masks show" in report and "keep budget r = 0.15" in report
    assert set(story["masks"]) == {"ersm", "mrf"}
    assert 0 <= story["masks"]["mrf"]["kept"] <= 1 and "accuracy" in story["masks"]["mrf"]
    assert (out / "report" / "compare_masks.png").read_bytes()[:8] == PNG_MAGIC
    stamps = {p: p.stat().st_mtime_ns for p in [*out.glob("runs/*/checkpoint.pt"),
                                                 *out.glob("report/runs/*/metrics.json")]}
    assert len(stamps) == 6
    assert main(["demo", "--out", str(out), "--n", "24", "--epochs", "1", "-q"]) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # resumed and cached: no rework


def _check_outputs_subset(out: Path) -> None:
    """The picture step's files are there (the story adds more beside them)."""
    names = {p.name for p in out.iterdir()}
    assert {"demo.json", "mask.png", "overlay.png", "report.md", "story.json", "data", "runs",
            "report"} <= names
