"""Fixtures for the evaluation tests: one thread, tiny trained runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ersm.data import make_synthetic_dataset
from ersm.train import TrainConfig, train
from eval_helpers import single_threaded

TINY = {"backbone_kwargs": {"width": 4, "out_channels": 8}, "image_size": 32, "batch_size": 8}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with single_threaded():
        yield


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    make_synthetic_dataset(root, n=24, seed=5, size=32)  # 18 train, 6 test, 4 classes
    return root


@pytest.fixture(scope="session")
def tiny_runs(tiny_data, tmp_path_factory) -> dict[str, Path]:
    """One-epoch baseline, ERSM and MRF runs on the tiny set."""
    runs = {}
    for model in ("baseline", "ersm", "mrf"):
        out = tmp_path_factory.mktemp(model)
        with single_threaded():
            train(TrainConfig(data=str(tiny_data), out=str(out), model=model, epochs=1, **TINY),
                  progress=False)
        runs[model] = out
    return runs
