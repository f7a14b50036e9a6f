"""``ersm demo``: in-process, through the installed console script, and the function."""

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
    assert main(["demo", "--out", str(tmp_path / "demo"), "--size", "96"]) == 0
    info = _check_outputs(tmp_path / "demo")
    assert info["image"] == "coffee" and info["backend"] == "graphcut" and max(info["shape"]) == 96
    assert "coffee 64x96: kept" in capsys.readouterr().out


def test_demo_console_script(tmp_path):
    script = shutil.which("ersm", path=str(Path(sys.executable).parent)) or shutil.which("ersm")
    if script is None:
        pytest.skip("the ersm console script is not installed")
    done = subprocess.run([script, "demo", "--out", str(tmp_path / "demo"), "--image", "astronaut",
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
        main(["demo", "--image", "no-such-photo", "--out", str(tmp_path)])
    assert main(["demo", "--size", "4", "--out", str(tmp_path)]) == 2
    assert "size must be >= 16" in capsys.readouterr().err
