"""Markdown reports: one run (:func:`run_report`) and several side by side (:func:`compare_report`).

Numbers are read back from the ``metrics.json`` content only, so a report can be rebuilt
from a cached evaluation. Missing (undefined) values print as ``—``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .rankings import RANKINGS

NOTES = """\
**How to read the curves.** Tokens are the mask layer's token grid (the feature grid for a
model without a layer). Each ranking scores tokens, higher = more important: `energy` = −θ
(most negative unary first), `magnitude` = L2 norm of the token's features at the layer
input, `random` = uniform (mean ± std over seeds), `gradcam` = Grad-CAM of the true class
on the same features (before its ReLU), `mask` = the solved mask's tokens first, each part
by energy. `deletion` removes the most important tokens first (lower AUC = more faithful);
`insertion` adds them first onto a fully removed input (higher = better). The paper's
pruning test (remove the *least* important first; magnitude pruning drops the smallest
norms first; higher = better) gives exactly the insertion inputs in reverse order, so its
AUC equals the insertion AUC. AUC = trapezoid area under the true-class probability over
the removed fraction in [0, 1]. `feature` mode replaces a token's features at the layer
input (zero by default) and re-runs layer and head; `pixel` mode replaces the token's
pixels (blur by default) and re-runs the whole model. `accuracy.solved`: the prediction
when the solved (discrete) mask gates the features in place of the learned gate;
`accuracy.background_(mis)match`: images whose background tint is (not) that of their class.
"""


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: ``—`` for None/NaN, fixed digits for floats, ``str`` otherwise."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.3g}"
    return str(value)


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table (cells formatted with :func:`fmt`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def auc_cell(metrics: Mapping[str, Any], key: str) -> str:
    """The AUC at ``key``, with ``± std`` for the random ranking."""
    value, std = metrics.get(key), metrics.get(f"{key}_std")
    return fmt(value) if std is None or value is None else f"{value:.3f} ± {std:.3f}"


def auc_table(metrics: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """Rows = rankings, columns = ``<kind> (<mode>)``."""
    columns = [(k, m) for k in settings["curves"] for m in settings["modes"]]
    rows = [[name] + [auc_cell(metrics, f"{k}_auc.{m}.{name}") for k, m in columns]
            for name in RANKINGS]
    arrows = {"deletion": "↓", "insertion": "↑"}
    return md_table(["ranking"] + [f"{k} {arrows[k]} ({m})" for k, m in columns], rows)


def _section(title: str, body: str) -> str:
    return f"## {title}\n\n{body}\n"


def _landscape_rows(landscape: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    rows = []
    for i, item in enumerate(landscape):
        flips = [min(v) for v in item["flips"].values()]
        rows.append([i, item["optimum"], item["size"], min(item["random"]),
                     min(flips) if flips else None,
                     min([min(item["random"])] + flips) >= item["optimum"] - 1e-9])
    return rows


def run_report(result: Mapping[str, Any], files: Mapping[str, str]) -> str:
    """The ``report.md`` of one evaluation (``files``: figure kind → file name)."""
    meta, m = result["meta"], result["metrics"]
    s = meta["settings"]
    head = (f"# Evaluation: {meta['name']}\n\n"
            f"model `{meta['model']}` (backbone `{meta['backbone']}`, trained with backend "
            f"`{meta['train_backend'] or '—'}`), split `{s['split']}`, {meta['images']} images, token "
            f"grid {meta['token_grid'][0]}×{meta['token_grid'][1]}; solved masks: "
            f"`{s['backend']}`; {s['seeds']} random seeds, {s['steps']} steps, fills "
            f"feature=`{s['feature_fill']}`, pixel=`{s['pixel_fill']}`.\n")
    accuracy = md_table(["metric", "value"], [[k, m.get(k)] for k in (
        "accuracy", "accuracy.solved", "accuracy.baseline", "accuracy.background_match",
        "accuracy.background_mismatch")])
    local = md_table(["ranking", "pointing game", "top-k IoU"],
                     [[n, m.get(f"pointing_game.{n}"), m.get(f"iou_topk.{n}")] for n in RANKINGS])
    local = md_table(["mask", "IoU"], [
        ["solved", m.get("iou.solved")], ["learned (p > 0.5)", m.get("iou.learned")],
        ["solved, keep cost matching the object size", m.get("iou.solved_matched")]]) + "\n" + local
    sparsity = md_table(["metric", "value"], [[k, v] for k, v in m.items()
                                              if k.startswith("sparsity.")])
    occlusion = md_table(["occluded", "object", "background"],
                         [[f"{level:g}", m.get(f"occlusion.object.{level:g}"),
                           m.get(f"occlusion.background.{level:g}")] for level in s["levels"]])
    occlusion += (f"\nROI only (background removed): {fmt(m.get('occlusion.roi_only'))}; "
                  f"ROI masked (object removed): {fmt(m.get('occlusion.roi_masked'))}.\n")
    cost = md_table(["metric", "value"], [[k, v] for k, v in m.items() if k.startswith("cost.")])
    parts = [head, _section("Accuracy", accuracy),
             _section("Faithfulness (AUC)", auc_table(m, s) + "\n" + NOTES),
             _section("Localization", local), _section("Sparsity", sparsity),
             _section("Occlusion (accuracy)", occlusion), _section("Cost (per image)", cost)]
    if result.get("landscape"):
        parts.append(_section("Energy landscape", md_table(
            ["image", "solved energy", "kept tokens", "min random", "min flipped",
             "solved is lowest"], _landscape_rows(result["landscape"]))))
    parts.append(_section("Figures", "".join(f"![{k}]({v})\n\n" for k, v in files.items())))
    return "\n".join(parts)


HEADLINE: tuple[str, ...] = (
    "accuracy", "accuracy.solved", "accuracy.background_mismatch", "iou.solved", "iou.learned",
    "iou.solved_matched",
    "deletion_auc.feature.energy", "deletion_auc.feature.magnitude",
    "deletion_auc.feature.random", "insertion_auc.feature.energy",
    "insertion_auc.feature.magnitude", "deletion_auc.pixel.energy",
    "deletion_auc.pixel.magnitude", "insertion_auc.pixel.energy",
    "insertion_auc.pixel.magnitude", "occlusion.roi_only", "occlusion.roi_masked",
    "sparsity.active_fraction")
"""Metrics of the short comparison table (present ones only)."""


def compare_table(results: Mapping[str, Mapping[str, Any]], keys: Sequence[str]) -> str:
    """Rows = metric keys, columns = runs (random AUCs with ± std)."""
    rows = [[key] + [auc_cell(r["metrics"], key) if "_auc." in key else r["metrics"].get(key)
                     for r in results.values()] for key in keys]
    return md_table(["metric"] + list(results), rows)


def compare_report(results: Mapping[str, Mapping[str, Any]], files: Mapping[str, str],
                   title: str = "Comparison") -> str:
    """``report.md`` of ``ersm compare``: runs, headline table, all metrics, figures."""
    runs = md_table(["run", "model", "train backend", "images", "report"],
                    [[name, r["meta"]["model"], r["meta"]["train_backend"], r["meta"]["images"],
                      f"[runs/{name}/report.md](runs/{name}/report.md)"]
                     for name, r in results.items()])
    keys: list[str] = []
    for r in results.values():
        keys += [k for k in r["metrics"] if k not in keys and not k.endswith("_std")]
    headline = [k for k in HEADLINE if k in keys]
    return "\n".join([f"# {title}\n", runs, _section("Headline", compare_table(results, headline)),
                      _section("All metrics", compare_table(results, sorted(keys))),
                      NOTES, _section("Figures", "".join(f"![{k}]({v})\n\n"
                                                         for k, v in files.items()))])


__all__ = ["HEADLINE", "NOTES", "auc_table", "compare_report", "compare_table", "fmt", "md_table",
           "run_report"]
