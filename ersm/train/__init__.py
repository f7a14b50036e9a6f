"""Training the classifiers with mask layers, and exporting their masks.

- :func:`train` (:mod:`~ersm.train.loop`): AdamW + cosine schedule, seeded and
  deterministic on CPU, per-epoch ``metrics.jsonl`` and atomic checkpoints, ``resume``
  after a kill, DistributedDataParallel under ``torchrun``.
- :class:`TrainConfig` (:mod:`~ersm.train.config`): a run, stored as ``RUN/config.json``.
- :func:`export_masks` (:mod:`~ersm.train.masks`): learned and solved token masks of a
  trained run over a split, as one ``.npz``.
"""

from .checkpoint import load_trained
from .config import TrainConfig, load_config
from .loop import read_metrics, train
from .masks import export_masks

__all__ = ["TrainConfig", "export_masks", "load_config", "load_trained", "read_metrics", "train"]
