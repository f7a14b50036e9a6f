"""``train_run``: the job behind ``ersm train`` (new run or resume, recipes, threads).

Which settings a resumed run may change is decided by the run layer
(:data:`ersm.runs.config.RESUMABLE`, :func:`ersm.runs.config.resume_config`); this
module only chooses between a new and a resumed run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..runs.config import CONFIG_FILE, TrainConfig, resume_config
from .threads import set_torch_threads


@dataclass(frozen=True)
class TrainOutcome:
    """What :func:`train_run` did.

    Attributes:
        config: the run's config (``out`` is where it was written).
        history: per-epoch metrics of the whole run (resumed epochs included).
        resumed: whether it continued from a saved config.
    """

    config: TrainConfig
    history: list[dict[str, Any]]
    resumed: bool

    def summary(self) -> str:
        """One line: model, last epoch's metrics, where they were written."""
        if not self.history:
            return f"{self.config.model} on {self.config.backbone}: nothing to train"
        last, c = self.history[-1], self.config
        return (f"{c.model} on {c.backbone}: epoch {last['epoch']}/{c.epochs}, train loss "
                f"{last['train_loss']:.4f}, train acc {last['train_acc']:.3f}, test acc "
                f"{last['test_acc']:.3f}; wrote {Path(c.out) / 'metrics.jsonl'}")


def resolve_train_config(given: Mapping[str, Any], out: str | os.PathLike,
                         resume: bool = False, recipe: str | None = None
                         ) -> tuple[TrainConfig, bool]:
    """The config of a run and whether it resumes.

    Args:
        given: :class:`~ersm.train.TrainConfig` fields set by the caller (``out`` excluded).
        out: run directory. With ``resume`` and a ``config.json`` there, the saved config
            is used with ``out`` set to this directory (the run may have been moved).
        resume: continue a run (a directory without a config starts a new run).
        recipe: a :mod:`~ersm.train.recipes` name filling in what ``given`` lacks.

    Raises:
        ValueError: conflicting settings on resume, ``data`` missing for a new run, an
            unknown recipe or a bad value.
    """
    values = dict(given)
    values["out"] = str(out)
    if recipe is not None:
        from ..train.recipes import get_recipe

        values = get_recipe(recipe).apply(values)
    if resume and (Path(out) / CONFIG_FILE).is_file():
        return resume_config(out, values), True
    if "data" not in values:
        raise ValueError("--data is required (unless resuming a run that has a config.json)")
    return TrainConfig(**values), resume


def train_run(given: Mapping[str, Any], out: str | os.PathLike, resume: bool = False,
              recipe: str | None = None, threads: int | None = None,
              progress: bool = True) -> TrainOutcome:
    """Train a new run in ``out``, or continue the one there with ``resume``.

    Args:
        given: config fields (see :func:`resolve_train_config`).
        out: run directory.
        resume: continue from ``out/checkpoint.pt``; stale temporary files of an
            interrupted atomic write there are removed first.
        recipe: named settings (see :func:`resolve_train_config`).
        threads: torch CPU threads for this process.
        progress: tqdm bars.

    Returns:
        :class:`TrainOutcome`.
    """
    from ..io.atomic import clean_temporaries
    from ..train.loop import train

    set_torch_threads(threads)
    config, resumed = resolve_train_config(given, out, resume, recipe)
    if resume and os.environ.get("RANK", "0") == "0":  # rank 0 is the only writer
        clean_temporaries(config.out)
    history = train(config, resume=resumed, progress=progress)
    return TrainOutcome(config, history, resumed)


__all__ = ["TrainOutcome", "resolve_train_config", "train_run"]
