"""Training: smoke runs, exact resume after an interrupt, DDP with two processes, mask export."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from ersm.cli.main import main
from ersm.data import make_synthetic_dataset
from ersm.jobs.export import export_masks
from ersm.train import TrainConfig, read_metrics, train
from ersm.train.checkpoint import CHECKPOINT_FILE, load_checkpoint

TINY = {"backbone_kwargs": {"width": 4, "out_channels": 8}, "image_size": 32, "batch_size": 4}
METRICS = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}


@pytest.fixture(autouse=True, scope="module")
def quiet_torch():
    """One thread (a busy machine); restore the global determinism flag afterwards."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    make_synthetic_dataset(root, n=16, seed=3, size=32)  # 12 train, 4 test, 4 classes
    return root


def config(data: Path, out: Path, **changes) -> TrainConfig:
    return TrainConfig(data=str(data), out=str(out), **{**TINY, **changes})


def without_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


@pytest.mark.parametrize("model, backend", [("baseline", None), ("ersm", None),
                                            ("mrf", "meanfield"), ("mrf", "ste")])
def test_smoke(data, tmp_path, model, backend):
    history = train(config(data, tmp_path, model=model, backend=backend, epochs=2),
                    progress=False)
    assert [r["epoch"] for r in history] == [1, 2]
    assert read_metrics(tmp_path) == history
    layer_keys = {"train_keep", "test_keep"} if model != "baseline" else set()
    layer_keys |= {"keep_cost"} if model == "mrf" else set()
    assert set(history[0]) == METRICS | layer_keys and 0 <= history[-1]["test_acc"] <= 1
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["classes"] == ["cross", "disc", "square", "triangle"] and saved["model"] == model
    state = load_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert {"epoch", "model", "optimizer", "scheduler", "rng", "history", "config"} <= set(state)
    assert state["epoch"] == 2


class Interrupt(Exception):
    pass


def stop_after_first_epoch(record: dict) -> None:
    if record["epoch"] == 1:
        raise Interrupt  # as if killed right after the epoch's checkpoint was written


def test_resume_after_interrupt_matches_uninterrupted(data, tmp_path):
    whole = train(config(data, tmp_path / "whole", model="mrf", epochs=2), progress=False)
    cut = config(data, tmp_path / "cut", model="mrf", epochs=2)
    with pytest.raises(Interrupt):
        train(cut, progress=False, on_epoch_end=stop_after_first_epoch)
    assert len(read_metrics(tmp_path / "cut")) == 1
    resumed = train(cut, resume=True, progress=False)
    assert without_time(resumed) == without_time(whole)
    assert without_time(read_metrics(tmp_path / "cut")) == without_time(whole)
    a = load_checkpoint(tmp_path / "whole" / CHECKPOINT_FILE)
    b = load_checkpoint(tmp_path / "cut" / CHECKPOINT_FILE)
    assert a["model"].keys() == b["model"].keys()
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) if torch.is_tensor(a["model"][k])
               else a["model"][k] == b["model"][k] for k in a["model"])  # tensors, extra state
    assert a["scheduler"] == b["scheduler"]


def test_cli_train_resume_and_masks(data, tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "masks.npz"
    base = ["train", "--data", str(data), "--out", str(run), "--model", "ersm", "--backbone",
            "small", "--batch-size", "4", "--image-size", "32", "--threads", "1", "--quiet"]
    assert main([*base, "--epochs", "1"]) == 0
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "-q"]) == 0
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2]
    assert main(["train", "--out", str(run), "--resume", "--model", "mrf"]) == 2
    assert "only epochs" in capsys.readouterr().err
    assert main(["masks", "--run", str(run), "--data", str(data), "--out", str(out)]) == 0
    with np.load(out) as f:
        arrays = dict(f)
    n, (h, w) = 4, (8, 8)  # 32 px images, stride 4
    assert sorted(arrays) == sorted(["paths", "label", "pred", "unary", "pairwise", "keep_prob",
                                     "mask", "classes"])
    assert arrays["unary"].shape == arrays["keep_prob"].shape == arrays["mask"].shape == (n, h, w)
    assert arrays["pairwise"].shape == (n, 4, h, w) and arrays["mask"].dtype == bool
    assert arrays["label"].shape == arrays["pred"].shape == (n,)
    assert list(arrays["classes"]) == sorted(arrays["classes"])
    for path, label in zip(arrays["paths"], arrays["label"]):
        assert (data / path).is_file()
        assert Path(path).parts[:2] == ("test", arrays["classes"][label])


def test_export_masks_of_mrf_run(data, tmp_path):
    train(config(data, tmp_path, model="mrf", epochs=1, layer_kwargs={"patch_size": 2}),
          progress=False)
    arrays = export_masks(tmp_path, data, "train", tmp_path / "m.npz", backend="graphcut")
    assert arrays["mask"].shape == (12, 4, 4) and arrays["pairwise"].shape == (12, 2, 4, 4)
    with pytest.raises(ValueError, match="only applies to model='ersm'"):
        export_masks(tmp_path, data, "test", tmp_path / "x.npz", pairwise_weight=1.0)


def test_export_masks_refuses_baseline(data, tmp_path):
    train(config(data, tmp_path, epochs=1), progress=False)
    with pytest.raises(ValueError, match="no mask layer"):
        export_masks(tmp_path, data, "test", tmp_path / "m.npz")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, cfg: TrainConfig, report: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    history = train(cfg, progress=False)
    Path(report, f"rank{rank}.json").write_text(json.dumps(without_time(history)))


def test_ddp_two_processes(data, tmp_path):
    run = tmp_path / "run"
    cfg = config(data, run, model="mrf", epochs=1, batch_size=3, device="cpu")
    mp.spawn(_ddp_worker, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, join=True)
    histories = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert histories[0] == histories[1]  # metrics are reduced over both processes
    assert without_time(read_metrics(run)) == histories[0]
    state = load_checkpoint(run / CHECKPOINT_FILE)
    assert not any(k.startswith("module.") for k in state["model"])
    assert state["scheduler"]["last_epoch"] == 2  # 12 images / 2 processes / 3 per step


def test_keep_ratio_run_exports_budget_masks(data, tmp_path):
    from ersm.jobs.export import summarize_masks

    history = train(config(data, tmp_path, model="mrf", epochs=1,
                           layer_kwargs={"keep_ratio": 0.25, "pairwise_weight": 0.1}),
                    progress=False)
    assert history[0]["keep_cost"] != 0 and 0 <= history[0]["train_keep"] <= 1
    layer = load_checkpoint(tmp_path / CHECKPOINT_FILE)["model"]["layer._extra_state"]
    assert layer["budget_warmup"] == round(0.3 * 4)  # 12 images / 3 per step, 1 epoch
    arrays = export_masks(tmp_path, data, "test", tmp_path / "m.npz")  # the run's own ratio
    assert float(arrays["keep_ratio"]) == 0.25 and "pred_learned" in arrays
    summary = summarize_masks(arrays, data)
    assert {"accuracy", "kept", "agreement", "iou_solved", "iou_learned"} <= set(summary)
    with pytest.raises(ValueError, match="not exact"):
        export_masks(tmp_path, data, "test", tmp_path / "x.npz", backend="meanfield")


def test_runs_from_before_the_context_layers_still_load(data, tmp_path):
    from ersm.train.checkpoint import load_trained

    tiny = {**TINY["backbone_kwargs"], "context": 0}
    train(config(data, tmp_path, epochs=1, backbone_kwargs=tiny), progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["backbone_kwargs"]["context"]  # as a run written before the option existed
    (tmp_path / "config.json").write_text(json.dumps(saved))
    _, model = load_trained(tmp_path)
    assert len(model.backbone.features) == 4


def test_run_records_every_backbone_argument_so_new_defaults_cannot_change_it(
        data, tmp_path, monkeypatch):
    from ersm.nets.backbones import architectures
    from ersm.runs.config import resume_config
    from ersm.train.checkpoint import load_trained

    train(config(data, tmp_path, epochs=1), progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())["backbone_kwargs"]
    assert saved == {"in_channels": 3, "width": 4, "out_channels": 8, "context": 2,
                     "padding_mode": "zeros"}
    # a later release changes SmallCNN's defaults: the run is rebuilt as it was trained
    original = architectures.SmallCNN.__init__
    monkeypatch.setattr(architectures.SmallCNN, "__init__",
                        lambda self, in_channels=3, width=32, out_channels=64, context=3,
                        padding_mode="reflect": original(self, in_channels, width, out_channels,
                                                         context, padding_mode))
    _, model = load_trained(tmp_path)
    assert len(model.backbone.features) == 6
    assert model.backbone.features[0][0].padding_mode == "zeros"
    monkeypatch.undo()
    # the same arguments given again on resume (only some of them) are no conflict
    assert resume_config(tmp_path, {"backbone_kwargs": TINY["backbone_kwargs"]}).backbone_kwargs == saved
    with pytest.raises(ValueError, match="backbone_kwargs"):
        resume_config(tmp_path, {"backbone_kwargs": {"width": 8}})
