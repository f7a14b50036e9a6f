"""``evaluate_run``: every metric of a trained run over one split, written as a report.

One pass over the split in batches (no per-image Python loops; see
:func:`~ersm.evaluation.batch_metrics.evaluate_batch`): the model runs once per batch, the
layer's token energy is solved with the evaluation ``backend``, the rankings are scored,
and the curves, localization, sparsity and occlusion metrics are accumulated as per-image
sums. Random orders and occlusion boxes are drawn for the whole split up front, so results
do not depend on the batch size.

``OUT`` receives ``metrics.json`` (see :func:`evaluate_run`), ``report.md``, the figures
and ``panels.npz`` (the arrays of the mask panels, reused by ``ersm compare``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.optional import require
from ..energy.grid import GridEnergy
from ..io.atomic import atomic_save_npz, atomic_write_text
from ..runs.checkpoint import CHECKPOINT_FILE, load_trained
from .figures import run_figures
from .metrics import RunContext, compute_all, versions
from .report import run_report
from .batch_metrics import Draws, Found, evaluate_batch
from .batches import Keeper, Means, background_lookup, iterate, open_eval_split, split_size
from .landscape import keep_cost_path, neighbourhood, sweep
from .metrics.faithfulness import curve_results
from .occlusion import random_boxes
from .probe import token_shape
from .rankings import random_scores
from .settings import EvalSettings

METRICS_FILE = "metrics.json"
PANELS_FILE = "panels.npz"
FORMAT_VERSION = 5  # 5: landscape entries hold the exact keep-cost path


def landscape_summary(energies: dict[str, np.ndarray], backend: str,
                      seed: int) -> list[dict[str, Any]]:
    """:func:`~ersm.evaluation.landscape.neighbourhood`, the exact keep-cost path
    (:func:`~ersm.evaluation.landscape.keep_cost_path`) and unary/γ sweeps per kept image."""
    out = []
    for i in range(len(energies.get("mask", []))):
        energy = GridEnergy(torch.from_numpy(energies["unary"][i:i + 1]).double(),
                            torch.from_numpy(energies["pairwise"][i:i + 1]).double())
        near = neighbourhood(energy, energies["mask"][i], seed=seed + i)
        out.append({"optimum": near["optimum"], "size": near["size"],
                    "random": near["random"].tolist(),
                    "flips": {str(k): v.tolist() for k, v in near["flips"].items()},
                    "sweep_pairwise": {k: v.tolist() for k, v in
                                       sweep(energy, term="pairwise", backend=backend).items()},
                    "sweep_unary": {k: v.tolist() for k, v in
                                    sweep(energy, term="unary", backend=backend).items()},
                    "path": {k: v.tolist() for k, v in keep_cost_path(energy).items()}})
    return out


# ---------------------------------------------------------------- results


def scalar_results(means: Means, has_layer: bool, settings: EvalSettings, tokens: int,
                   model: torch.nn.Module | None = None, sample: torch.Tensor | None = None,
                   baseline_accuracy: float | None = None) -> dict[str, Any]:
    """Every registered metric's keys and values (None where undefined), in metric order.

    Args:
        means: the per-image sums of the split.
        has_layer: the model has a mask layer.
        settings: the evaluation settings.
        tokens: tokens per image ``h·w`` (the curves' x).
        model, sample: the model and a few images for the ``cost`` keys (None: cost keys
            are None).
        baseline_accuracy: ``accuracy.baseline``.

    Raises:
        ValueError: a key was accumulated that no metric reports
            (:func:`~ersm.evaluation.metrics.compute_all`).
    """
    return compute_all(means, RunContext(settings, has_layer, tokens, model, sample,
                                         baseline_accuracy))


def run_fingerprint(run: str | os.PathLike) -> dict[str, Any]:
    """Path, size and modification time of the run's checkpoint (cache key of compare)."""
    path = Path(run) / CHECKPOINT_FILE
    stat = path.stat()
    return {"run": str(Path(run).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def accuracy_of(run: str | os.PathLike, data: str | os.PathLike, settings: EvalSettings,
                progress: bool = True) -> float:
    """Top-1 accuracy of another run (e.g. ``--baseline``) on the same split and images."""
    config, model = load_trained(run, settings.device)
    dataset = open_eval_split(data, settings.split, config)
    means = Means()
    for batch in iterate(dataset, settings, None, progress,
                         desc=f"baseline {Path(run).name} ({config.model})"):
        with torch.no_grad():
            means.add("accuracy", (model(batch.images).argmax(1) == batch.labels).double())
    return means.scalar("accuracy")


def evaluate_run(run: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike,
                 settings: EvalSettings | None = None, baseline: str | os.PathLike | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Evaluate a trained run on a split and write ``OUT/metrics.json``, ``report.md``, figures.

    Args:
        run: training run directory (``config.json``, ``checkpoint.pt``).
        data: dataset root (object masks in ``masks/`` enable localization and occlusion;
            ``items.csv`` of a synthetic set enables the background-group accuracies).
        out: report directory (created).
        settings: :class:`EvalSettings` (default: all modes and curves, 3 seeds).
        baseline: another run whose accuracy on the same images is reported as
            ``accuracy.baseline``.
        progress: tqdm bars.

    Returns:
        the content of ``metrics.json``: ``{"meta": run, model and settings,
        "metrics": {flat key: float or None}, "curves": {"x": fractions removed,
        "<kind>.<mode>.<ranking>": mean curve}, "histograms": {"keep_prob": counts,
        "edges": bin edges}, "landscape": per-image energy-landscape data}``. Metric keys:
        ``accuracy[.solved|.baseline|.background_match|.background_mismatch]``,
        ``{deletion,insertion}_auc.{feature,pixel}.{energy,magnitude,random,
        gradcam,mask,path}`` (+ ``….random_std``; + the ``attributions``), ``iou.{solved,learned}``,
        ``iou.solved_matched``, ``pointing_game.<ranking>``, ``iou_topk.<ranking>``, ``sparsity.*``,
        ``occlusion.*``, ``cost.*`` — every key of the registered metrics
        (:mod:`ersm.evaluation.metrics`).
    """
    settings = settings or EvalSettings()
    if settings.attributions:
        require("captum", extra="captum")
    torch.manual_seed(settings.seed)
    config, model = load_trained(run, settings.device)
    dataset = open_eval_split(data, settings.split, config)
    count = split_size(dataset, settings)
    first = dataset[0]["image"][None].to(settings.device)
    with torch.no_grad():
        grid = token_shape(model, tuple(model.backbone(first).shape[-2:]))
    draws = Draws([random_scores(count, grid, seed).to(settings.device)
                   for seed in range(settings.seeds)],
                  random_boxes(count, tuple(first.shape[-2:]), settings.seed))
    found = Found(Means(), Keeper(settings.panels, count), Keeper(settings.landscape, count))
    for batch in iterate(dataset, settings, background_lookup(data), progress,
                         desc=f"evaluate {Path(run).name} ({config.model})"):
        evaluate_batch(model, batch, grid, draws, settings, found)
    tokens = grid[0] * grid[1]
    base_accuracy = None if baseline is None else accuracy_of(baseline, data, settings, progress)
    sample = torch.stack([dataset[i]["image"] for i in range(min(16, count))])
    values = scalar_results(found.means, model.layer is not None, settings, tokens, model,
                            sample.to(settings.device), base_accuracy)
    curves = curve_results(found.means, settings, tokens)[1]
    histogram = found.means.sums.get("histogram.keep_prob", np.zeros(0))
    result = {"meta": {"format_version": FORMAT_VERSION, **run_fingerprint(run),
                       "metric_versions": versions(),
                       "name": Path(run).name, "model": config.model,
                       "backbone": config.backbone,
                       "train_backend": getattr(model.layer, "backend", None),
                       "data": str(Path(data).resolve()), "images": count,
                       "token_grid": list(grid), "classes": config.classes,
                       "baseline": None if baseline is None else str(Path(baseline).resolve()),
                       "settings": settings.to_dict()},
              "metrics": values, "curves": curves,
              "histograms": {"keep_prob": histogram.tolist(),
                             "edges": np.linspace(0, 1, len(histogram) + 1).tolist()},
              "landscape": landscape_summary(found.landscape.numpy(), settings.backend,
                                             settings.seed)}
    write_report(result, found.panels.numpy(), out)
    return result


def write_report(result: dict[str, Any], panels: dict[str, np.ndarray],
                 out: str | os.PathLike) -> Path:
    """Write ``metrics.json``, ``panels.npz``, the figures and ``report.md`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_save_npz(out / PANELS_FILE, **panels)
    files = run_figures(result, panels, out)
    atomic_write_text(out / "report.md", run_report(result, files))
    atomic_write_text(out / METRICS_FILE, json.dumps(result, indent=2, sort_keys=True) + "\n")
    return out


def load_metrics(out: str | os.PathLike) -> dict[str, Any]:
    """Read ``OUT/metrics.json``."""
    return json.loads((Path(out) / METRICS_FILE).read_text(encoding="utf-8"))


__all__ = ["EvalSettings", "FORMAT_VERSION", "METRICS_FILE", "PANELS_FILE", "accuracy_of",
           "curve_results", "evaluate_run", "landscape_summary", "load_metrics", "run_fingerprint",
           "scalar_results", "write_report"]
