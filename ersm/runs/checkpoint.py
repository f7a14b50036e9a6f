"""Checkpoints: written atomically each epoch, loaded with ``weights_only=True``.

``RUN/checkpoint.pt`` holds ``{"epoch": epochs done, "model", "optimizer", "scheduler":
state dicts, "rng": torch/NumPy/random states, "history": per-epoch metrics, "config":
the run's config as a dict}``. A kill leaves the previous complete checkpoint (see
:mod:`ersm.io.atomic`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..io.atomic import atomic_write
from ..nets.classifier import BACKBONE_ALIASES, build_model
from .config import TrainConfig, load_config, with_backbone_defaults

CHECKPOINT_FILE = "checkpoint.pt"
REQUIRED_KEYS: tuple[str, ...] = ("epoch", "model")


class CheckpointError(ValueError):
    """A checkpoint is unreadable (truncated, not a torch file, holds code) or malformed."""


def rng_state() -> dict[str, Any]:
    """The global torch (CPU and CUDA), NumPy and ``random`` states, as plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
             "random": [version, list(internal), gauss_next]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["random"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """``torch.save(state)`` to ``path`` atomically."""
    return atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint on the CPU (``weights_only=True``: tensors and plain values only).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: (a ``ValueError``) truncated or foreign file, a pickle that would
            run code, or not a dict with ``epoch`` and ``model``; the message names ``path``.
    """
    import pickle

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, TypeError,
            AttributeError, ImportError, IndexError, KeyError, UnicodeDecodeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: "
                              f"{first})") from exc
    if not isinstance(state, dict) or any(key not in state for key in REQUIRED_KEYS):
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path}: not an ersm checkpoint (expected a dict with keys "
                              f"{list(REQUIRED_KEYS)}, found {found})")
    return state


def recorded_backbone_kwargs(config: TrainConfig, state: dict[str, Any] | None = None
                             ) -> dict[str, Any]:
    """Every argument the run's backbone is built with
    (:func:`~ersm.runs.config.with_backbone_defaults`).

    Runs from before the config recorded them keep what their checkpoint ``state`` shows:
    a ``SmallCNN`` without its context layers (four conv layers) gets ``context=0``.
    """
    kwargs = dict(config.backbone_kwargs)
    name = BACKBONE_ALIASES.get(config.backbone, config.backbone)
    weights = state.get("model") if isinstance(state, dict) else None
    if name == "small_cnn" and "context" not in kwargs and isinstance(weights, dict):
        layers = {key.split(".")[2] for key in weights
                  if isinstance(key, str) and key.startswith("backbone.features.")}
        kwargs["context"] = max(0, len(layers) - 4)
    return with_backbone_defaults(config.replace(backbone_kwargs=kwargs)).backbone_kwargs


def load_trained(run: str | os.PathLike,
                 device: str | torch.device = "cpu") -> tuple[TrainConfig, nn.Module]:
    """The config and the model of the last checkpoint of ``run``, in eval mode.

    Raises:
        FileNotFoundError: no config or checkpoint in ``run``.
        CheckpointError: the checkpoint is unreadable or does not fit the config's model.
    """
    config = load_config(run)
    path = Path(run) / CHECKPOINT_FILE
    state = load_checkpoint(path)
    args = {**config.model_args(), "backbone_kwargs": recorded_backbone_kwargs(config, state)}
    model = build_model(**{**args, "weights": None})
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: its weights do not fit the run's model ({first})") from exc
    return config, model.to(device).eval()


__all__ = ["CHECKPOINT_FILE", "CheckpointError", "load_checkpoint", "load_trained",
           "recorded_backbone_kwargs", "rng_state", "save_checkpoint", "set_rng_state"]
