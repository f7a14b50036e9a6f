"""``ersm demo --quick`` shows a first exact result (a small preview) before the full-size
solve; the files it writes do not depend on it."""

from __future__ import annotations

import json
import re

from ersm.cli.main import main
from ersm.jobs.demo import run_demo


def test_demo_quick_prints_preview_first(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--size", "64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.match(r"first result: coffee at \d+x32: kept [\d.]+% of pixels, energy -?[\d.]+, "
                    r"exact cut by 'reference'", lines[0])
    assert lines[1].startswith("coffee 43x64: kept")


def test_preview_does_not_change_outputs(tmp_path):
    shown = []
    with_preview = run_demo(tmp_path / "a", size=48, show=shown.append)
    without = run_demo(tmp_path / "b", size=48)
    assert len(shown) == 1 and shown[0].startswith("first result: coffee")
    assert (tmp_path / "a" / "mask.png").read_bytes() == (tmp_path / "b" / "mask.png").read_bytes()
    a, b = (json.loads((tmp_path / d / "demo.json").read_text()) for d in "ab")
    for info in (a, b):
        info.pop("seconds")
        info.pop("files")
    assert a == b and with_preview.energy == without.energy
