"""``ersm train`` / ``ersm masks`` through the jobs layer: resume rules, moved runs, bad files."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import torch

from ersm.cli.main import main
from ersm.data import make_synthetic_dataset
from ersm.train.checkpoint import CHECKPOINT_FILE
from ersm.train.config import RESUMABLE, load_config
from ersm.train.loop import read_metrics

TINY = ["--backbone", "small", "--batch-size", "4", "--image-size", "32", "--threads", "1",
        "--quiet"]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    make_synthetic_dataset(root, n=8, seed=1, size=32)
    return root


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    """A one-epoch ersm-layer run."""
    run = tmp_path_factory.mktemp("runs") / "runA"
    assert main(["train", "--data", str(data), "--out", str(run), "--model", "ersm",
                 "--epochs", "1", *TINY]) == 0
    return run


def test_resumable_lives_in_the_run_layer():
    assert RESUMABLE == ("epochs", "num_workers", "device")


def test_resume_after_move_writes_where_told(trained, tmp_path, capsys):
    moved = tmp_path / "runB"
    shutil.copytree(trained, moved)
    # the saved out points to runA; resuming runB must train runB and leave runA alone
    before = (trained / CHECKPOINT_FILE).read_bytes()
    assert main(["train", "--out", str(moved), "--resume", "--epochs", "2", "-q",
                 "--threads", "1"]) == 0
    assert [r["epoch"] for r in read_metrics(moved)] == [1, 2]
    assert load_config(moved).out == str(moved)
    assert (trained / CHECKPOINT_FILE).read_bytes() == before
    assert [r["epoch"] for r in read_metrics(trained)] == [1]
    assert str(moved) in capsys.readouterr().out


def test_resume_conflict_names_the_rule(trained, capsys):
    assert main(["train", "--out", str(trained), "--resume", "--model", "mrf"]) == 2
    err = capsys.readouterr().err.strip()
    assert "only epochs, num_workers, device may change" in err and len(err.splitlines()) == 1


def test_train_mask_export_shim_warns():
    import ersm.jobs.export as export
    import ersm.train as train
    import ersm.train.masks as masks

    with pytest.warns(DeprecationWarning, match="ersm.jobs.export"):
        assert masks.export_masks is export.export_masks
    with pytest.warns(DeprecationWarning, match="ersm.jobs.export"):
        assert train.export_masks is export.export_masks
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from ersm.jobs.export import export_masks  # noqa: F401  (no warning)
