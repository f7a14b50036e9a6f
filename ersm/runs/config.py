"""``TrainConfig``: everything that defines a training run, stored as ``RUN/config.json``."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.atomic import atomic_write_text

CONFIG_FILE = "config.json"
LR_SCHEDULES: tuple[str, ...] = ("cosine", "cosine_epoch")
RESUMABLE: tuple[str, ...] = ("epochs", "num_workers", "device")
"""Config fields a resumed run may change (``out`` always follows where the run is now)."""


@dataclass(frozen=True)
class TrainConfig:
    """A training run (all fields are JSON values; see :func:`ersm.train.train`).

    Attributes:
        data: dataset root (any layout :func:`ersm.data.open_dataset` reads).
        out: run directory ``RUN`` (config, checkpoint, metrics).
        model: ``"baseline"``, ``"ersm"`` or ``"mrf"``.
        backbone: ``"small"``, ``"resnet18"``, ``"resnet50"``, ...
        backend: solver backend of the ``"mrf"`` layer (None: ``"ste"`` at temperature 4
            with a ``keep_ratio`` in ``layer_kwargs``, ``"meanfield"`` without; see
            :func:`ersm.nets.classifier.make_layer`).
        epochs: total number of epochs.
        batch_size: images per step and process.
        lr: peak learning rate of AdamW (cosine decay to 0 over all steps).
        weight_decay: AdamW weight decay.
        image_size: images are resized (shorter side) and centre-cropped to this square.
        seed: seeds the model, the shuffling and the flips.
        augment: random horizontal flips in training (seeded per epoch and image).
        weights: local backbone checkpoint, or None.
        freeze: freeze the backbone.
        num_workers: DataLoader worker processes.
        layout: dataset layout (``"auto"``, ``"folder"``, ...).
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``.
        backbone_kwargs: backbone builder arguments (e.g. ``{"stages": 3}``).
        layer_kwargs: mask-layer arguments (e.g. ``{"patch_size": 2}``).
        classes: class names (filled in from the train split when the run starts).
        lr_schedule: ``"cosine"`` (decays every step) or ``"cosine_epoch"`` (one value per
            epoch, as ``CosineAnnealingLR(T_max=epochs)`` stepped per epoch).
        recipe: the :mod:`~ersm.train.recipes` name the run was built from, or None.
        budget_warmup: share of the training steps over which a mask layer with a
            ``keep_ratio`` lowers its training target from 1 to ``keep_ratio`` (the layer's
            ``budget_warmup`` in steps, unless ``layer_kwargs`` sets it); in ``[0, 1]``.
    """

    data: str
    out: str
    model: str = "baseline"
    backbone: str = "small"
    backend: str | None = None
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    image_size: int = 64
    seed: int = 0
    augment: bool = True
    weights: str | None = None
    freeze: bool = False
    num_workers: int = 0
    layout: str = "auto"
    device: str = "auto"
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    layer_kwargs: dict[str, Any] = field(default_factory=dict)
    classes: list[str] | None = None
    lr_schedule: str = "cosine"
    recipe: str | None = None
    budget_warmup: float = 0.3

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "image_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if not 0.0 <= self.budget_warmup <= 1.0:
            raise ValueError(f"budget_warmup must be in [0, 1], got {self.budget_warmup}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got "
                             f"{self.lr_schedule!r}")

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def model_args(self) -> dict[str, Any]:
        """Arguments of :func:`ersm.nets.classifier.build_model` for this run."""
        if self.classes is None:
            raise ValueError("the config has no classes yet (they come from the train split)")
        return {"model": self.model, "backbone": self.backbone, "backend": self.backend,
                "weights": self.weights, "freeze": self.freeze,
                "num_classes": len(self.classes), "backbone_kwargs": self.backbone_kwargs,
                "layer_kwargs": self.layer_kwargs}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from a dict; unknown keys are an error (naming them)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}; known: {sorted(known)}")
        return cls(**values)


def save_config(config: TrainConfig, run: str | os.PathLike) -> Path:
    """Write ``RUN/config.json`` atomically; returns its path."""
    return atomic_write_text(Path(run) / CONFIG_FILE, config.to_json())


def load_config(run: str | os.PathLike) -> TrainConfig:
    """Read ``RUN/config.json``.

    Raises:
        FileNotFoundError: no config in ``run`` (not a training run directory).
    """
    path = Path(run) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} in {run}: not a training run directory")
    return TrainConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))


def resume_config(run: str | os.PathLike, given: dict[str, Any]) -> TrainConfig:
    """The config a resumed run continues with: the one saved in ``RUN/config.json``.

    Args:
        run: the run directory as it is now (it may have been moved or renamed since it
            was created: the returned config's ``out`` is ``run``, not the saved value).
        given: config fields set by the caller (e.g. on the command line); only those in
            :data:`RESUMABLE` may differ from the saved ones, ``out`` is ignored.

    Raises:
        FileNotFoundError: ``run`` has no config.
        ValueError: ``given`` changes a field outside :data:`RESUMABLE` (all are named).
    """
    saved = load_config(run)
    conflicts = sorted(name for name, value in given.items()
                       if name not in RESUMABLE and name != "out"
                       and _differs(saved, name, value, given))
    if conflicts:
        shown = ", ".join(f"{n}: saved {getattr(saved, n)!r}, given {given[n]!r}"
                          for n in conflicts)
        raise ValueError(f"--resume uses the saved settings of {run}; only "
                         f"{', '.join(RESUMABLE)} may change ({shown})")
    return saved.replace(out=str(run), **{k: v for k, v in given.items() if k in RESUMABLE})


def with_backbone_defaults(config: TrainConfig) -> TrainConfig:
    """``config`` with its backbone's builder defaults filled into ``backbone_kwargs`` (as a
    run records them, :func:`ersm.nets.backbones.build.builder_arguments`): compare configs
    in this form."""
    from ..nets.backbones.build import builder_arguments
    from ..nets.classifier import BACKBONE_ALIASES

    backbone = BACKBONE_ALIASES.get(config.backbone, config.backbone)
    return config.replace(backbone_kwargs=builder_arguments(backbone, config.backbone_kwargs))


def _differs(saved: TrainConfig, name: str, value: Any, given: dict[str, Any]) -> bool:
    """Whether ``given[name]`` changes the saved run (backbone arguments are compared with
    the builder's defaults filled in, see :func:`with_backbone_defaults`)."""
    if getattr(saved, name) == value:
        return False
    if name != "backbone_kwargs":
        return True
    backbone = given.get("backbone", saved.backbone)

    def filled(kwargs: dict[str, Any]) -> dict[str, Any]:
        return with_backbone_defaults(saved.replace(backbone=backbone,
                                                    backbone_kwargs=kwargs)).backbone_kwargs

    return filled(value) != filled(saved.backbone_kwargs)


__all__ = ["CONFIG_FILE", "LR_SCHEDULES", "RESUMABLE", "TrainConfig", "load_config",
           "resume_config", "save_config", "with_backbone_defaults"]
