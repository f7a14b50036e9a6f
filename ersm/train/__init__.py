"""Training the classifiers with mask layers, and exporting their masks.

- :func:`train` (:mod:`~ersm.train.loop`): AdamW + cosine schedule, seeded and
  deterministic on CPU, per-epoch ``metrics.jsonl`` and atomic checkpoints, ``resume``
  after a kill, DistributedDataParallel under ``torchrun``.
- :class:`TrainConfig` (:mod:`~ersm.runs.config`): a run, stored as ``RUN/config.json``.
- ``export_masks`` moved to :func:`ersm.jobs.export.export_masks` (``ersm.train.export_masks``
  still works and warns).
"""

from ..runs.checkpoint import load_trained
from ..runs.config import TrainConfig, load_config
from .loop import read_metrics, train

__all__ = ["TrainConfig", "load_config", "load_trained", "read_metrics", "train"]


def __getattr__(name: str):  # deprecated names
    if name == "export_masks":
        import warnings

        warnings.warn("ersm.train.export_masks moved to ersm.jobs.export.export_masks",
                      DeprecationWarning, stacklevel=2)
        from ..jobs.export import export_masks

        return export_masks
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
