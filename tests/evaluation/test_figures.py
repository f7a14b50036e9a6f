"""Figures: nothing cut off, deletion and insertion told apart, labels, colorbars, legends;
progress bars name their run."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from ersm.evaluation import EvalSettings, evaluate_run, figures

RUNS = {"base": {"deletion_auc.feature.energy": None, "insertion_auc.feature.energy": None,
                 "deletion_auc.feature.magnitude": 0.4, "insertion_auc.feature.magnitude": 0.6,
                 "deletion_auc.feature.random": 0.5, "deletion_auc.feature.random_std": 0.05,
                 "insertion_auc.feature.random": 0.5, "insertion_auc.feature.random_std": 0.04},
        "a-run-with-a-long-name": {"deletion_auc.feature.energy": 0.2,
                                   "insertion_auc.feature.energy": 0.8,
                                   "deletion_auc.feature.magnitude": 0.3,
                                   "insertion_auc.feature.magnitude": 0.7}}


@pytest.fixture
def captured(monkeypatch):
    """The Figure objects handed to ``figures.save`` (still written)."""
    seen = []
    original = figures.save

    def keep(fig, path):
        seen.append(fig)
        return original(fig, path)

    monkeypatch.setattr(figures, "save", keep)
    return seen


def assert_nothing_cut_off(fig, png):
    """The PNG holds the figure's whole tight bounding box (tick labels, legends, bars)."""
    renderer = fig.canvas.get_renderer()
    tight = fig.get_tightbbox(renderer)
    height, width = imread(png).shape[:2]
    assert abs(width - (tight.width + 0.2) * 100) <= 2
    assert abs(height - (tight.height + 0.2) * 100) <= 2
    for ax in fig.axes:
        for label in ax.get_xticklabels():
            box = label.get_window_extent(renderer)
            assert box.x0 >= tight.x0 * 100 - 1 and box.y0 >= tight.y0 * 100 - 1


def test_compare_auc_tells_deletion_from_insertion(tmp_path, captured):
    png = figures.compare_auc_figure(RUNS, ("deletion", "insertion"), ("feature",),
                                     ("energy", "magnitude", "random"), tmp_path / "auc.png")
    [fig] = captured
    [ax] = fig.axes
    hatches = {p.get_hatch() or "" for p in ax.patches}
    assert hatches == {"///", ""}
    assert ax.get_ylabel() and [t.get_text() for t in ax.get_xticklabels()] == [
        "energy", "magnitude", "random"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["base", "a-run-with-a-long-name", "deletion ↓ (hatched)",
                      "insertion ↑ (solid)"]
    assert len(ax.patches) == 4 + 4  # (magnitude, random) and (energy, magnitude), two kinds
    assert_nothing_cut_off(fig, png)


def test_compare_bars_have_labels_and_fit(tmp_path, captured):
    keys = ["accuracy", "occlusion.roi_masked", "sparsity.active_fraction"]
    values = {"r1": {"accuracy": 0.5, "occlusion.roi_masked": 0.2}, "r2": {"accuracy": 0.7}}
    png = figures.compare_bars_figure(values, keys, tmp_path / "m.png", "t", ylabel="share",
                                      labels=["accuracy ↑", "occlusion.roi_masked ↓",
                                              "sparsity.active_fraction"])
    [fig] = captured
    assert fig.axes[0].get_ylabel() == "share"
    assert fig.axes[0].get_xticklabels()[1].get_text() == "occlusion.roi_masked ↓"
    assert_nothing_cut_off(fig, png)


def test_probability_panels_have_colorbars(tmp_path, captured):
    panels = {"image": np.zeros((2, 8, 8, 3)), "gt": np.zeros((2, 8, 8)),
              "keep_prob": np.full((2, 4, 4), 0.3), "solved": np.zeros((2, 4, 4)),
              "gradcam": np.ones((2, 4, 4)), "label": np.array([0, 1])}
    figures.panels_figure(panels, tmp_path / "p.png", ["a", "b"])
    [fig] = captured
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels.count("keep prob.") == 2 and labels.count("rel. Grad-CAM") == 2


def test_landscape_has_legends(tmp_path, captured):
    sweep = {"factors": [0.5, 1.0, 2.0], "energy": [-1.0, -2.0, -4.0], "size": [0.2, 0.5, 1.0]}
    item = {"optimum": -3.0, "size": 4, "random": [-1.0, 0.0], "flips": {"1": [-2.0, -2.5]},
            "sweep_unary": sweep, "sweep_pairwise": sweep}
    png = figures.landscape_figure([item], tmp_path / "l.png")
    [fig] = captured
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 3
    assert [t.get_text() for t in legends[1].get_texts()] == ["optimal energy", "kept fraction"]
    assert all(ax.get_ylabel() for ax in fig.axes)
    assert_nothing_cut_off(fig, png)


def test_progress_bars_name_the_run(tiny_runs, tiny_data, tmp_path, capsys):
    settings = EvalSettings(modes=("feature",), seeds=1, steps=1, panels=0, landscape=0,
                            levels=(0.5,), limit=1)
    evaluate_run(tiny_runs["ersm"], tiny_data, tmp_path, settings,
                 baseline=tiny_runs["baseline"], progress=True)
    err = capsys.readouterr().err
    assert f"evaluate {tiny_runs['ersm'].name} (ersm)" in err
    assert f"baseline {tiny_runs['baseline'].name} (baseline)" in err
