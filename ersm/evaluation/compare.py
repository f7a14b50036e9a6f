"""``compare_runs``: several trained runs evaluated on the same images, side by side.

Each run is evaluated with :func:`~ersm.evaluation.evaluate.evaluate_run` into
``OUT/runs/<name>/`` — or read back from there when its ``metrics.json`` was written for
the same checkpoint, data and settings (the cache). ``OUT`` then gets ``metrics.json``
(``{"runs": {name: that run's metrics.json content}}``), ``report.md`` (headline and
full tables), ``compare_auc.png``, ``compare_metrics.png`` and ``compare_masks.png`` (the
same images for every run: learned probabilities, solved mask, Grad-CAM).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_write_text
from .figures import compare_auc_figure, compare_bars_figure, compare_panels_figure
from .metrics import bar_keys, owner, versions
from .report import compare_report
from .evaluate import (FORMAT_VERSION, METRICS_FILE, PANELS_FILE, EvalSettings, evaluate_run,
                       load_metrics, run_fingerprint)
from .rankings import ranking_names

BAR_KEYS: tuple[str, ...] = bar_keys()
"""Keys of ``compare_metrics.png``: every registered metric's ``bars``, at import
(:func:`ersm.evaluation.metrics.bar_keys` is current)."""


def run_names(runs: Sequence[str | os.PathLike]) -> list[str]:
    """Distinct short names: the run folder names, suffixed ``-2``, ``-3``… when repeated.

    Example:
        >>> run_names(["a/mrf", "b/mrf", "c/ersm"])
        ['mrf', 'mrf-2', 'ersm']
    """
    names: list[str] = []
    for run in runs:
        base = Path(run).name or "run"
        name, k = base, 1
        while name in names:
            k += 1
            name = f"{base}-{k}"
        names.append(name)
    return names


def cached_result(out: Path, run: str | os.PathLike, data: str | os.PathLike,
                  settings: EvalSettings) -> dict[str, Any] | None:
    """The evaluation in ``out`` if it matches this checkpoint, data, settings, format
    version and metric versions, else None."""
    if not (out / METRICS_FILE).is_file() or not (out / PANELS_FILE).is_file():
        return None
    result = load_metrics(out)
    meta = result.get("meta", {})
    same = (meta.get("format_version") == FORMAT_VERSION
            and meta.get("metric_versions") == versions()
            and {k: meta.get(k) for k in ("run", "size", "mtime_ns")} == run_fingerprint(run)
            and meta.get("data") == str(Path(data).resolve())
            and meta.get("settings") == settings.to_dict())
    return result if same else None


def compare_runs(runs: Sequence[str | os.PathLike], data: str | os.PathLike,
                 out: str | os.PathLike, settings: EvalSettings | None = None,
                 names: Sequence[str] | None = None, progress: bool = True,
                 title: str = "Comparison") -> dict[str, Any]:
    """Evaluate (or reuse) every run and write the side-by-side report into ``out``.

    Args:
        runs: training run directories (baseline, ERSM layer, MRF layers, …).
        data: dataset root, shared by all runs.
        out: report directory.
        settings: evaluation settings, shared by all runs (same images and seeds).
        names: column names (default: :func:`run_names`).
        progress: tqdm bars.
        title: report title.

    Returns:
        ``{"runs": {name: metrics.json content}, "files": {figure kind: file name}}``.
    """
    settings = settings or EvalSettings()
    out = Path(out)
    names = list(names) if names is not None else run_names(runs)
    if len(names) != len(runs) or len(set(names)) != len(names):
        raise ValueError(f"need one distinct name per run, got {names} for {len(runs)} runs")
    results: dict[str, dict[str, Any]] = {}
    panels: dict[str, dict[str, np.ndarray]] = {}
    for name, run in zip(names, runs):
        sub = out / "runs" / name
        results[name] = (cached_result(sub, run, data, settings)
                         or evaluate_run(run, data, sub, settings, progress=progress))
        with np.load(sub / PANELS_FILE) as stored:
            panels[name] = dict(stored)
    files = compare_figures(results, panels, out)
    atomic_write_text(out / "report.md", compare_report(results, files, title))
    atomic_write_text(out / METRICS_FILE,
                      json.dumps({"runs": results}, indent=2, sort_keys=True) + "\n")
    return {"runs": results, "files": files}


def compare_figures(results: dict[str, dict[str, Any]], panels: dict[str, dict[str, np.ndarray]],
                    out: Path) -> dict[str, str]:
    """Bars of AUCs and of the other headline metrics, and the side-by-side mask panels."""
    values = {name: r["metrics"] for name, r in results.items()}
    first = next(iter(results.values()))["meta"]
    modes, kinds = first["settings"]["modes"], first["settings"]["curves"]
    out.mkdir(parents=True, exist_ok=True)
    keys = bar_keys()
    arrows = {True: " ↑", False: " ↓", None: ""}
    labels = [key + arrows[getattr(owner(key), "better", lambda _k: None)(key)]
              for key in keys]
    files = {"auc": compare_auc_figure(values, kinds, modes, ranking_names(first["settings"]),
                                       out / "compare_auc.png", "AUC by ranking").name,
             "metrics": compare_bars_figure(values, keys, out / "compare_metrics.png",
                                            "accuracy, IoU, occlusion, sparsity",
                                            ylabel="fraction of images / tokens",
                                            labels=labels).name}
    if all(len(p.get("image", [])) for p in panels.values()):
        files["masks"] = compare_panels_figure(panels, out / "compare_masks.png",
                                               first["classes"]).name
    return files


__all__ = ["BAR_KEYS", "cached_result", "compare_figures", "compare_runs", "run_names"]
