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

from ..energy.grid import GridEnergy
from ..io.atomic import atomic_save_npz, atomic_write_text
from ..train.checkpoint import CHECKPOINT_FILE, load_trained
from . import figures, report
from .batch_metrics import Draws, Found, evaluate_batch
from .batches import Keeper, Means, background_lookup, iterate, open_eval_split, split_size
from .cost import layer_cost
from .deletion import auc, step_fractions
from .landscape import neighbourhood, sweep
from .occlusion import random_boxes
from .probe import token_shape
from .rankings import NEEDS_LAYER, RANKINGS, random_scores
from .settings import EvalSettings
from .sparsity import SPARSITY_KEYS

METRICS_FILE = "metrics.json"
PANELS_FILE = "panels.npz"
FORMAT_VERSION = 4


def landscape_summary(energies: dict[str, np.ndarray], backend: str,
                      seed: int) -> list[dict[str, Any]]:
    """:func:`~ersm.evaluation.landscape.neighbourhood` and λ/γ sweeps per kept image."""
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
                                    sweep(energy, term="unary", backend=backend).items()}})
    return out


# ---------------------------------------------------------------- results


def curve_results(means: Means, settings: EvalSettings,
                  tokens: int) -> tuple[dict[str, float | None], dict[str, list[float]]]:
    """AUCs ``<kind>_auc.<mode>.<ranking>`` and mean curves ``<kind>.<mode>.<ranking>``."""
    x = step_fractions(tokens, settings.steps)
    metrics: dict[str, float | None] = {}
    curves: dict[str, list[float]] = {"x": x.tolist()}
    for kind in settings.curves:
        for mode in settings.modes:
            for name in RANKINGS:
                key, base = f"{kind}_auc.{mode}.{name}", f"curve.{kind}.{mode}.{name}"
                if name != "random":
                    y = means.mean(base)
                    metrics[key] = None if y is None else auc(y, x)
                    if y is not None:
                        curves[f"{kind}.{mode}.{name}"] = y.tolist()
                    continue
                ys = [means.mean(f"{base}.{s}") for s in range(settings.seeds)]
                areas = [auc(y, x) for y in ys if y is not None]
                metrics[key] = float(np.mean(areas)) if areas else None
                metrics[f"{key}_std"] = float(np.std(areas)) if areas else None
                if areas:
                    stacked = np.stack([y for y in ys if y is not None])
                    curves[f"{kind}.{mode}.random"] = stacked.mean(0).tolist()
                    curves[f"{kind}.{mode}.random_std"] = stacked.std(0).tolist()
    return metrics, curves


def scalar_results(means: Means, has_layer: bool, settings: EvalSettings) -> dict[str, Any]:
    """Accuracy, localization, sparsity and occlusion keys (None where undefined)."""
    keys = ["accuracy", "accuracy.solved", "accuracy.background_match",
            "accuracy.background_mismatch", "iou.solved", "iou.learned", "iou.solved_matched"]
    keys += [f"{family}.{name}" for family in ("pointing_game", "iou_topk") for name in RANKINGS]
    keys += [f"sparsity.{k}" for k in (*SPARSITY_KEYS, "solved_fraction")]
    keys += [f"occlusion.{part}.{level:g}" for part in ("object", "background")
             for level in settings.levels] + ["occlusion.roi_only", "occlusion.roi_masked"]
    out = {key: means.scalar(key) for key in keys}
    if not has_layer:
        out.update({f"{family}.{name}": None for family in ("pointing_game", "iou_topk")
                    for name in NEEDS_LAYER})
    return out


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
    for batch in iterate(dataset, settings, None, progress, desc="baseline"):
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
        gradcam,mask}`` (+ ``….random_std``), ``iou.{solved,learned}``,
        ``iou.solved_matched``, ``pointing_game.<ranking>``, ``iou_topk.<ranking>``, ``sparsity.*``,
        ``occlusion.*``, ``cost.*``.
    """
    settings = settings or EvalSettings()
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
    for batch in iterate(dataset, settings, background_lookup(data), progress):
        evaluate_batch(model, batch, grid, draws, settings, found)
    metrics = {**scalar_results(found.means, model.layer is not None, settings)}
    auc_metrics, curves = curve_results(found.means, settings, grid[0] * grid[1])
    metrics.update(auc_metrics)
    metrics["accuracy.baseline"] = (None if baseline is None
                                    else accuracy_of(baseline, data, settings, progress))
    sample = torch.stack([dataset[i]["image"] for i in range(min(16, count))])
    metrics.update({f"cost.{k}": v for k, v in
                    layer_cost(model, sample.to(settings.device), settings.backend).items()})
    histogram = found.means.sums.get("histogram.keep_prob", np.zeros(0))
    result = {"meta": {"format_version": FORMAT_VERSION, **run_fingerprint(run),
                       "name": Path(run).name, "model": config.model,
                       "backbone": config.backbone,
                       "train_backend": getattr(model.layer, "backend", None),
                       "data": str(Path(data).resolve()), "images": count,
                       "token_grid": list(grid), "classes": config.classes,
                       "baseline": None if baseline is None else str(Path(baseline).resolve()),
                       "settings": settings.to_dict()},
              "metrics": metrics, "curves": curves,
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
    files = figures.run_figures(result, panels, out)
    atomic_write_text(out / "report.md", report.run_report(result, files))
    atomic_write_text(out / METRICS_FILE, json.dumps(result, indent=2, sort_keys=True) + "\n")
    return out


def load_metrics(out: str | os.PathLike) -> dict[str, Any]:
    """Read ``OUT/metrics.json``."""
    return json.loads((Path(out) / METRICS_FILE).read_text(encoding="utf-8"))


__all__ = ["EvalSettings", "FORMAT_VERSION", "METRICS_FILE", "PANELS_FILE", "accuracy_of",
           "curve_results", "evaluate_run", "landscape_summary", "load_metrics", "run_fingerprint",
           "scalar_results", "write_report"]
