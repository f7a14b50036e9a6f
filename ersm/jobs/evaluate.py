"""The jobs behind ``ersm evaluate`` and ``ersm compare``: settings, threads, one-line summaries."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .threads import set_torch_threads


def _settings(settings: Any) -> Any:
    from ..evaluation import EvalSettings

    if settings is None or isinstance(settings, EvalSettings):
        return settings
    return EvalSettings(**dict(settings))


def evaluate(run: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike,
             settings: Mapping[str, Any] | Any = None, baseline: str | os.PathLike | None = None,
             threads: int | None = None, progress: bool = True) -> dict[str, Any]:
    """:func:`ersm.evaluation.evaluate_run` with ``settings`` given as
    :class:`~ersm.evaluation.EvalSettings` or its fields, and torch ``threads``."""
    from ..evaluation import evaluate_run

    set_torch_threads(threads)
    return evaluate_run(run, data, out, _settings(settings), baseline=baseline, progress=progress)


def evaluate_summary(result: Mapping[str, Any], out: str | os.PathLike) -> str:
    """One line about an :func:`evaluate` result."""
    m, meta = result["metrics"], result["meta"]
    return (f"{meta['name']} ({meta['model']}): accuracy {m['accuracy']:.3f} on "
            f"{meta['images']} images; wrote {Path(out) / 'report.md'}")


def compare(runs: Sequence[str | os.PathLike], data: str | os.PathLike, out: str | os.PathLike,
            settings: Mapping[str, Any] | Any = None, names: Sequence[str] | None = None,
            threads: int | None = None, progress: bool = True) -> dict[str, Any]:
    """:func:`ersm.evaluation.compare_runs` with ``settings`` as in :func:`evaluate`."""
    from ..evaluation import compare_runs

    set_torch_threads(threads)
    return compare_runs(runs, data, out, _settings(settings), names=names, progress=progress)


def compare_summary(result: Mapping[str, Any], out: str | os.PathLike) -> str:
    """One line about a :func:`compare` result."""
    accuracies = ", ".join(f"{name} {r['metrics']['accuracy']:.3f}"
                           for name, r in result["runs"].items())
    return (f"compared {len(result['runs'])} runs (accuracy: {accuracies}); wrote "
            f"{Path(out) / 'report.md'}")


__all__ = ["compare", "compare_summary", "evaluate", "evaluate_summary"]
