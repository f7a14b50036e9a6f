"""PNG figures of an evaluation (matplotlib, Agg, written atomically).

- :func:`curves_figure`: deletion / insertion curves of every ranking, per mode
  (random: mean over seeds with a ±1 std band);
- :func:`panels_figure`: image, ground truth, learned keep probabilities, solved mask and
  Grad-CAM for a few images; :func:`compare_panels_figure` puts several runs side by side;
- :func:`histogram_figure`: keep-probability histogram;
- :func:`landscape_figure`: the solved mask's energy against random same-size masks and
  locally perturbed masks, and the optimal energy and mask size along λ and γ sweeps;
- :func:`compare_bars_figure`: grouped bars of chosen metrics across runs;
  :func:`compare_auc_figure`: deletion (hatched) and insertion (solid) AUCs per ranking.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..io.atomic import atomic_write
from .rankings import ALL_RANKINGS

COLOURS: dict[str, str] = {"energy": "tab:red", "magnitude": "tab:blue", "random": "tab:gray",
                           "gradcam": "tab:green", "mask": "tab:purple",
                           "integrated_gradients": "tab:orange", "saliency": "tab:brown",
                           "occlusion": "tab:pink", "path": "tab:olive"}


def new_figure(width: float, height: float, wspace: float = 0.45) -> Figure:
    """A figure with an Agg canvas (no pyplot state) and fixed margins (layout engines are
    slow on figures with many panels)."""
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.08, right=0.92, bottom=0.12, top=0.88, wspace=wspace, hspace=0.5)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (tight bounding box: long tick labels,
    legends and colorbars are never cut off)."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100,
                                                    bbox_inches="tight", pad_inches=0.1))


def curves_figure(curves: Mapping[str, Sequence[float]], mode: str, kinds: Sequence[str],
                  path: str | os.PathLike, title: str = "") -> Path:
    """One panel per curve kind: the true-class probability against the fraction removed."""
    fig = new_figure(4.0 * len(kinds), 3.4)
    axes = fig.subplots(1, len(kinds), squeeze=False)[0]
    x = np.asarray(curves["x"])
    for ax, kind in zip(axes, kinds):
        for name in ALL_RANKINGS:
            y = curves.get(f"{kind}.{mode}.{name}")
            if y is None:
                continue
            ax.plot(x, y, color=COLOURS.get(name), label=name)
            std = curves.get(f"{kind}.{mode}.{name}_std")
            if std is not None:
                ax.fill_between(x, np.subtract(y, std), np.add(y, std), color=COLOURS.get(name),
                                alpha=0.2, linewidth=0)
        ax.set(title=f"{kind} ({mode})", ylim=(0, 1.02),
               xlabel="fraction of tokens " + ("added" if kind == "insertion" else "removed"),
               ylabel="true-class probability")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path)


def _show(ax: Any, image: np.ndarray | None, title: str, colorbar: str | None = None,
          **kwargs: Any) -> None:
    """One image panel (``colorbar``: its label, for value maps such as probabilities)."""
    if image is not None:
        shown = ax.imshow(image, interpolation="nearest", **kwargs)
        if colorbar:
            bar = ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04,
                                     ticks=[0, 0.5, 1])
            bar.ax.tick_params(labelsize=6)
            bar.set_label(colorbar, fontsize=6)
    else:
        ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def _row(panels: Mapping[str, np.ndarray], i: int) -> list[tuple[np.ndarray, str, dict]]:
    """The (array, title, imshow options) of one image's learned / solved / Grad-CAM panels
    that this run has (a model without a mask layer has only Grad-CAM)."""
    cam = panels["gradcam"][i] if "gradcam" in panels else None
    cam = None if cam is None else cam / max(float(cam.max()), 1e-12)
    row = [(panels["keep_prob"][i] if "keep_prob" in panels else None, "learned p",
            {"cmap": "viridis", "vmin": 0, "vmax": 1, "colorbar": "keep prob."}),
           (panels["solved"][i] if "solved" in panels else None, "solved mask",
            {"cmap": "gray", "vmin": 0, "vmax": 1}),
           (cam, "Grad-CAM", {"cmap": "inferno", "vmin": 0, "vmax": 1,
                              "colorbar": "rel. Grad-CAM"})]
    return [entry for entry in row if entry[0] is not None]


def panels_figure(panels: Mapping[str, np.ndarray], path: str | os.PathLike,
                  classes: Sequence[str] | None = None, title: str = "") -> Path:
    """Rows of image, ground truth, learned probabilities, solved mask, Grad-CAM."""
    return compare_panels_figure({"": panels}, path, classes, title)


def compare_panels_figure(runs: Mapping[str, Mapping[str, np.ndarray]], path: str | os.PathLike,
                          classes: Sequence[str] | None = None, title: str = "") -> Path:
    """The same images for several runs: image and GT, then each run's panels."""
    first = next(iter(runs.values()))
    rows = len(first["image"])
    widths = {run: len(_row(panels, 0)) if rows else 0 for run, panels in runs.items()}
    cols = 2 + sum(widths.values())
    fig = new_figure(1.65 * cols, 1.75 * max(rows, 1), wspace=0.35)
    axes = fig.subplots(max(rows, 1), cols, squeeze=False)
    for i in range(rows):
        label = int(first["label"][i]) if "label" in first else None
        name = classes[label] if classes is not None and label is not None else label
        _show(axes[i, 0], first["image"][i], f"image\n({name})")
        _show(axes[i, 1], first["gt"][i] if "gt" in first else None, "ground\ntruth",
              cmap="gray", vmin=0, vmax=1)
        col = 2
        for run, panels in runs.items():
            for image, what, options in _row(panels, i):
                _show(axes[i, col], image, f"{run}\n{what}" if run else what, **options)
                col += 1
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path)


def histogram_figure(counts: Sequence[float], edges: Sequence[float], path: str | os.PathLike,
                     title: str = "") -> Path:
    """Bar chart of the keep-probability histogram (fractions of all tokens)."""
    fig = new_figure(4.5, 3.2)
    ax = fig.subplots()
    counts = np.asarray(counts, dtype=np.float64)
    edges = np.asarray(edges)
    if counts.size:
        ax.bar(edges[:-1], counts / max(counts.sum(), 1), width=np.diff(edges), align="edge",
               edgecolor="black", color="tab:purple")
    ax.set(xlabel="keep probability", ylabel="fraction of tokens", xlim=(0, 1),
           title=title or "learned keep probabilities")
    return save(fig, path)


def _path_panel(ax: Any, path: Mapping[str, Sequence[float]], i: int) -> None:
    """The exact keep-cost path: optimal energy (concave, piecewise linear) and the canonical
    mask size (a step function) against λ, breakpoints marked."""
    lam, energy, size = (np.asarray(path[k], dtype=np.float64) for k in ("lam", "energy", "size"))
    lines = ax.plot(lam, energy, "-", color="tab:red", label="optimal energy")
    inner = slice(1, len(lam) - 1) if len(lam) > 2 else slice(0, 0)
    lines += ax.plot(lam[inner], energy[inner], "o", color="tab:red", markersize=3,
                     label=f"breakpoints ({len(path['breakpoints'])})")
    ax.set(xlabel="keep cost λ", ylabel="optimal energy", title=f"image {i}: keep-cost path")
    twin = ax.twinx()
    lines += twin.plot(lam, size, drawstyle="steps-pre", color="tab:blue",
                       label="kept fraction")
    twin.set(ylabel="kept fraction", ylim=(-0.02, 1.02))
    for b in path["breakpoints"]:
        ax.axvline(b, color="0.85", linewidth=0.5, zorder=0)
    ax.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="lower right",
              bbox_to_anchor=(1.0, 0.08))


def landscape_figure(landscape: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Per image: energies of random / perturbed masks vs the optimum; the exact keep-cost
    path (energy and mask size vs λ, breakpoints marked); the γ sweep."""
    rows = max(len(landscape), 1)
    fig = new_figure(12.0, 2.8 * rows, wspace=0.75)
    axes = fig.subplots(rows, 3, squeeze=False)
    for i, item in enumerate(landscape):
        ax = axes[i, 0]
        families = {"random": item["random"], **{f"flip {k}": v for k, v in item["flips"].items()}}
        ax.boxplot(list(families.values()), showfliers=False)
        ax.set_xticks(range(1, len(families) + 1), list(families), fontsize=7)
        ax.axhline(item["optimum"], color="tab:red", label="solved")
        ax.set(title=f"image {i}: mask energies", ylabel="energy")
        ax.legend(fontsize=7)
        if "path" in item:
            _path_panel(axes[i, 1], item["path"], i)
        sweeps = ((axes[i, 2], "sweep_pairwise", "γ"),)
        if "path" not in item:  # results written before the path
            sweeps = ((axes[i, 1], "sweep_unary", "λ"),) + sweeps
        for ax, key, symbol in sweeps:
            data = item[key]
            lines = ax.semilogx(data["factors"], data["energy"], "o-", color="tab:red",
                                label="optimal energy")
            ax.set(xlabel=f"{symbol} factor", ylabel="optimal energy",
                   title=f"image {i}: {symbol} sweep")
            twin = ax.twinx()
            lines += twin.semilogx(data["factors"], data["size"], "s--", color="tab:blue",
                                   label="kept fraction")
            twin.set(ylabel="kept fraction", ylim=(-0.02, 1.02))
            ax.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="best")
    if not landscape:
        axes[0, 0].text(0.5, 0.5, "no mask layer", ha="center", transform=axes[0, 0].transAxes)
    return save(fig, path)


def _run_colours(runs: Sequence[str]) -> dict[str, str]:
    return {run: f"C{i % 10}" for i, run in enumerate(runs)}


def compare_bars_figure(values: Mapping[str, Mapping[str, float | None]], keys: Sequence[str],
                        path: str | os.PathLike, title: str = "", ylabel: str = "value",
                        labels: Sequence[str] | None = None) -> Path:
    """Grouped bars: one group per metric key, one bar per run (missing values skipped).

    Args:
        values: run → metrics.
        keys: metric keys, one group each.
        path: PNG file.
        title, ylabel: axis texts.
        labels: tick labels (default: the keys).
    """
    runs = list(values)
    colours = _run_colours(runs)
    fig = new_figure(max(6.0, 0.45 * len(keys) * max(len(runs), 1) + 2), 3.8)
    ax = fig.subplots()
    width = 0.8 / max(len(runs), 1)
    for r, run in enumerate(runs):
        heights = [values[run].get(k) for k in keys]
        xs = [i + r * width for i, h in enumerate(heights) if h is not None]
        ax.bar(xs, [h for h in heights if h is not None], width=width, label=run,
               color=colours[run], edgecolor="black", linewidth=0.5)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))],
                  list(labels) if labels is not None else list(keys), rotation=30, ha="right",
                  fontsize=8)
    ax.set(ylim=(0, 1.02), title=title, ylabel=ylabel)
    ax.legend(fontsize=7, title="run", title_fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, path)


HATCH: dict[str, str] = {"deletion": "///", "insertion": ""}
"""Bar hatch per curve kind in :func:`compare_auc_figure` (colour = run)."""


def compare_auc_figure(values: Mapping[str, Mapping[str, float | None]], kinds: Sequence[str],
                       modes: Sequence[str], rankings: Sequence[str], path: str | os.PathLike,
                       title: str = "") -> Path:
    """AUC per ranking, one panel per mode: colour = run, hatch = deletion (↓ better) or
    insertion (↑ better), random with its ± std over seeds as an error bar."""
    from matplotlib.patches import Patch

    runs = list(values)
    colours = _run_colours(runs)
    fig = new_figure(max(6.0, 0.35 * len(rankings) * len(runs) * len(kinds) + 2) ,
                     3.6 * len(modes))
    axes = fig.subplots(len(modes), 1, squeeze=False)[:, 0]
    bars = max(len(runs) * len(kinds), 1)
    width = 0.8 / bars
    for ax, mode in zip(axes, modes):
        for r, run in enumerate(runs):
            for k, kind in enumerate(kinds):
                offset = (r * len(kinds) + k) * width
                for i, name in enumerate(rankings):
                    key = f"{kind}_auc.{mode}.{name}"
                    h = values[run].get(key)
                    if h is None:
                        continue
                    std = values[run].get(f"{key}_std")
                    ax.bar(i + offset, h, width=width, color=colours[run], hatch=HATCH[kind],
                           edgecolor="black", linewidth=0.5, alpha=0.55 if HATCH[kind] else 1,
                           yerr=std, capsize=2 if std else 0)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(rankings))], list(rankings),
                      rotation=20, ha="right", fontsize=8)
        ax.set(ylim=(0, 1.02), ylabel="AUC (true-class prob.)",
               title=f"{title} — {mode} mode" if title else f"{mode} mode")
        ax.grid(axis="y", alpha=0.3)
    handles = [Patch(facecolor=colours[run], edgecolor="black", label=run) for run in runs]
    arrows = {"deletion": "deletion ↓ (hatched)", "insertion": "insertion ↑ (solid)"}
    handles += [Patch(facecolor="white", edgecolor="black", hatch=HATCH[kind],
                      label=arrows.get(kind, kind)) for kind in kinds]
    axes[0].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save(fig, path)


def run_figures(result: Mapping[str, Any], panels: Mapping[str, np.ndarray],
                out: str | os.PathLike) -> dict[str, str]:
    """All figures of one evaluation into ``out``; returns ``{kind: file name}``."""
    out = Path(out)
    meta, settings = result["meta"], result["meta"]["settings"]
    title = f"{meta['name']} ({meta['model']})"
    files = {}
    for mode in settings["modes"]:
        files[f"curves_{mode}"] = curves_figure(result["curves"], mode, settings["curves"],
                                                out / f"curves_{mode}.png", title).name
    if len(panels.get("image", [])):
        files["panels"] = panels_figure(panels, out / "masks.png", meta["classes"], title).name
    if result["histograms"]["keep_prob"]:
        files["histogram"] = histogram_figure(result["histograms"]["keep_prob"],
                                              result["histograms"]["edges"],
                                              out / "keep_hist.png", title).name
    if result["landscape"]:
        files["landscape"] = landscape_figure(result["landscape"], out / "landscape.png").name
    return files


__all__ = ["COLOURS", "HATCH", "compare_auc_figure", "compare_bars_figure",
           "compare_panels_figure", "curves_figure",
           "histogram_figure", "landscape_figure", "new_figure", "panels_figure", "run_figures",
           "save"]
