"""The training loop: AdamW, cosine schedule, per-epoch metrics and atomic checkpoints.

:func:`train` runs a :class:`~ersm.runs.config.TrainConfig` and writes, in ``RUN``:

- ``config.json``: the config (with the class names of the train split);
- ``checkpoint.pt``: after every epoch, atomically (model, optimizer, scheduler, RNG
  states, epochs done, metrics so far, config);
- ``metrics.jsonl``: one line per finished epoch (``epoch``, ``train_loss``, ``train_acc``,
  ``test_loss``, ``test_acc``, ``lr``, ``seconds``; with a mask layer also ``train_keep``
  and ``test_keep``, the mean gate, and ``keep_cost`` when the layer has one), rewritten
  atomically from the
  checkpoint's history, so it never lists an epoch the checkpoint lacks or misses one.

``resume=True`` continues from the checkpoint after a kill: the epochs that follow are
identical (CPU, same config) to those of an uninterrupted run, because the model starts
from the seed, and shuffling and flips depend only on ``(seed, epoch, index)``. Giving a
larger ``epochs`` on resume stretches the cosine schedule from there on.

Launched by ``torchrun``, every process trains a shard (DistributedDataParallel, ``gloo``
on CPU); metrics are summed over processes and only rank 0 writes files.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..io.atomic import atomic_write_text
from ..nets.classifier import MaskedClassifier, build_model
from ..runs import distributed
from ..runs.checkpoint import (CHECKPOINT_FILE, load_checkpoint, recorded_backbone_kwargs, rng_state,
                              save_checkpoint, set_rng_state)
from ..runs.config import TrainConfig, save_config
from ..runs.data import EpochFlips, make_loader, open_split

METRICS_FILE = "metrics.jsonl"
EpochCallback = Callable[[dict[str, Any]], None]


def set_determinism(seed: int) -> None:
    """Seed torch, NumPy and ``random``; ask torch for deterministic kernels (warn only)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int,
                    steps_per_value: int = 1) -> torch.optim.lr_scheduler.LambdaLR:
    """``lr(step) = lr₀ · ½ (1 + cos(π · s / total_steps))`` with ``s`` the step rounded
    down to a multiple of ``steps_per_value`` (the steps of an epoch: one value per epoch);
    a closed form, so changing ``total_steps`` on resume is well defined."""
    total, every = max(1, total_steps), max(1, steps_per_value)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: 0.5 * (1 + math.cos(math.pi * min(step // every * every, total) / total)))


def run_epoch(model: nn.Module, loss_fn: Callable[..., torch.Tensor], loader: Any,
              info: distributed.Distributed, optimizer: torch.optim.Optimizer | None = None,
              scheduler: Any = None, desc: str = "", progress: bool = True) -> dict[str, float]:
    """One pass over ``loader``: trains when ``optimizer`` is given, else evaluates.

    Returns:
        ``{"loss", "acc", "keep"}`` averaged over all images of all processes; ``keep`` is
        the mean gate of the mask layer (NaN without one).
    """
    training = optimizer is not None
    model.train(training)
    totals = [0.0, 0.0, 0.0, 0.0]  # loss sum, correct, count, gate sum
    bar = tqdm(loader, desc=desc, leave=False, disable=not (progress and info.is_main))
    with torch.set_grad_enabled(training):
        for batch in bar:
            images = batch["image"].to(info.device, non_blocking=True)
            labels = batch["label"].to(info.device, non_blocking=True)
            logits = model(images)
            loss = loss_fn(logits, labels)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
            n, value = labels.shape[0], float(loss.detach())
            totals[0] += value * n
            totals[1] += float((logits.argmax(1) == labels).sum())
            totals[2] += n
            keep = mean_gate(model)
            totals[3] += keep * n
            shown = {"loss": f"{value:.3f}"} | ({} if math.isnan(keep) else {"keep": f"{keep:.3f}"})
            bar.set_postfix(shown)
    loss_sum, correct, count, gates = distributed.all_sum(totals, info)
    return {"loss": loss_sum / max(count, 1), "acc": correct / max(count, 1),
            "keep": gates / max(count, 1)}


def mask_layer(model: nn.Module) -> nn.Module | None:
    """The mask layer of a (possibly DDP-wrapped) :class:`MaskedClassifier`, or None."""
    return getattr(getattr(model, "module", model), "layer", None)


def mean_gate(model: nn.Module) -> float:
    """Mean of what the mask layer's last forward multiplied the features by (NaN if none)."""
    last = getattr(mask_layer(model), "last", None)
    gate = getattr(last, "gate", None)
    if gate is None:
        gate = getattr(last, "keep_prob", None)
    return float(gate.detach().float().mean()) if gate is not None and gate.numel() else math.nan


def write_metrics(run: Path, history: list[dict[str, Any]]) -> Path:
    """Write ``RUN/metrics.jsonl`` (one JSON object per epoch) atomically."""
    text = "".join(json.dumps(record, sort_keys=True) + "\n" for record in history)
    return atomic_write_text(run / METRICS_FILE, text)


def read_metrics(run: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of ``RUN/metrics.jsonl``."""
    path = Path(run) / METRICS_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def set_budget_warmup(model: MaskedClassifier, config: TrainConfig, total_steps: int) -> None:
    """Give a budgeted mask layer ``config.budget_warmup · total_steps`` warm-up steps,
    unless ``config.layer_kwargs`` sets ``budget_warmup`` itself."""
    layer = model.layer
    if (getattr(layer, "keep_ratio", None) is not None and hasattr(layer, "budget_warmup")
            and "budget_warmup" not in config.layer_kwargs):
        layer.budget_warmup = round(config.budget_warmup * total_steps)


def _checkpoint(model: MaskedClassifier, optimizer: torch.optim.Optimizer, scheduler: Any,
                epoch: int, history: list[dict[str, Any]], config: TrainConfig) -> dict[str, Any]:
    return {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "rng": rng_state(), "history": history,
            "config": json.loads(config.to_json())}


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          on_epoch_end: EpochCallback | None = None) -> list[dict[str, Any]]:
    """Train ``config`` (see the module docstring for what is written).

    Args:
        config: the run.
        resume: continue from ``RUN/checkpoint.pt`` if it exists (else start afresh).
        progress: show a tqdm bar per epoch (rank 0 only).
        on_epoch_end: called with each epoch's metrics after its checkpoint is written.

    Returns:
        the metrics of every epoch of the run (resumed ones included).
    """
    info = distributed.setup(config.device)
    try:
        return _train(config, info, resume, progress, on_epoch_end)
    finally:
        distributed.teardown(info)


def _train(config: TrainConfig, info: distributed.Distributed, resume: bool, progress: bool,
           on_epoch_end: EpochCallback | None) -> list[dict[str, Any]]:
    run = Path(config.out)
    has_checkpoint = resume and (run / CHECKPOINT_FILE).is_file()
    state = load_checkpoint(run / CHECKPOINT_FILE) if has_checkpoint else None
    set_determinism(config.seed)
    train_set = open_split(config.data, "train", config.image_size, config.layout)
    config = config.replace(classes=list(train_set.classes),
                            backbone_kwargs=recorded_backbone_kwargs(config, state))
    test_set = open_split(config.data, "test", config.image_size, config.layout, config.classes)
    if info.is_main:
        run.mkdir(parents=True, exist_ok=True)
        save_config(config, run)
    model = build_model(**config.model_args()).to(info.device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=config.lr, weight_decay=config.weight_decay)
    train_data = EpochFlips(train_set, config.seed) if config.augment else train_set
    steps = len(make_loader(train_data, config.batch_size, info, config.seed, 0, True))
    scheduler = cosine_schedule(optimizer, steps * config.epochs,
                                steps if config.lr_schedule == "cosine_epoch" else 1)
    set_budget_warmup(model, config, steps * config.epochs)
    start, history = 0, []
    if state is not None:
        model.load_state_dict(state["model"])  # a resumed layer keeps its own warm-up
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        start, history = int(state["epoch"]), list(state["history"])
    net = DistributedDataParallel(model, device_ids=[info.device] if info.device.type == "cuda"
                                  else None) if info.enabled else model
    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        desc = f"{run.name} epoch {epoch + 1}/{config.epochs}"
        loader = make_loader(train_data, config.batch_size, info, config.seed, epoch, True,
                             config.num_workers)
        lr = optimizer.param_groups[0]["lr"]
        fit = run_epoch(net, model.loss, loader, info, optimizer, scheduler, desc, progress)
        loader = make_loader(test_set, config.batch_size, info, config.seed, epoch, False,
                             config.num_workers)
        test = run_epoch(net, model.loss, loader, info, desc=f"{desc} test", progress=progress)
        record = {"epoch": epoch + 1, "train_loss": fit["loss"], "train_acc": fit["acc"],
                  "test_loss": test["loss"], "test_acc": test["acc"], "lr": lr,
                  "seconds": time.perf_counter() - t0}
        layer = model.layer
        if layer is not None:
            record["train_keep"], record["test_keep"] = fit["keep"], test["keep"]
            if getattr(layer, "keep_cost", None) is not None:
                record["keep_cost"] = float(layer.keep_cost)
        history.append(record)
        if info.is_main:
            save_checkpoint(run / CHECKPOINT_FILE,
                            _checkpoint(model, optimizer, scheduler, epoch + 1, history, config))
            write_metrics(run, history)
        if on_epoch_end is not None:
            on_epoch_end(record)
    return history


__all__ = ["METRICS_FILE", "cosine_schedule", "mask_layer", "mean_gate", "read_metrics", "run_epoch", "set_determinism",
           "train", "write_metrics"]
