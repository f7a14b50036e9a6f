"""The report end to end on tiny one-epoch runs: evaluate, compare (with its cache), the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ersm.cli.main import main
from ersm.evaluation import EvalSettings, compare_runs, evaluate_run, load_metrics
from ersm.evaluation.batches import chosen_images
from ersm.evaluation.rankings import RANKINGS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = EvalSettings(seeds=2, steps=4, panels=2, landscape=1, levels=(0.1, 0.9))


def finite_or_none(value) -> bool:
    return value is None or (isinstance(value, float) and math.isfinite(value))


@pytest.fixture(scope="module")
def mrf_report(tiny_runs, tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, evaluate_run(tiny_runs["mrf"], tiny_data, out, FAST, baseline=tiny_runs["baseline"],
                             progress=False)


def test_evaluate_writes_the_report(mrf_report):
    out, result = mrf_report
    names = {p.name for p in out.iterdir()}
    assert {"metrics.json", "report.md", "panels.npz", "curves_feature.png", "curves_pixel.png",
            "masks.png", "keep_hist.png", "landscape.png"} <= names
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert load_metrics(out) == json.loads(json.dumps(result))
    text = (out / "report.md").read_text()
    assert "## Faithfulness (AUC)" in text and "![panels](masks.png)" in text


def test_evaluate_metric_keys(mrf_report):
    _, result = mrf_report
    m = result["metrics"]
    for kind in ("deletion", "insertion"):
        for mode in ("feature", "pixel"):
            for name in RANKINGS:
                assert 0 <= m[f"{kind}_auc.{mode}.{name}"] <= 1
            assert m[f"{kind}_auc.{mode}.random_std"] >= 0
            assert len(result["curves"][f"{kind}.{mode}.energy"]) == FAST.steps + 1
    for key in ("accuracy", "accuracy.solved", "accuracy.baseline", "iou.solved", "iou.learned",
                "iou.solved_matched", "pointing_game.energy", "pointing_game.mask", "iou_topk.gradcam",
                "sparsity.active_fraction", "sparsity.mean_keep_prob", "sparsity.entropy",
                "occlusion.object.0.1", "occlusion.background.0.9", "occlusion.roi_only",
                "occlusion.roi_masked", "accuracy.background_mismatch"):
        assert 0 <= m[key] <= 1, key
    assert m["cost.flops.extra"] > 0 and m["cost.time_ms.solve"] > 0
    assert all(finite_or_none(v) for v in m.values())
    assert result["meta"]["images"] == 6 and result["meta"]["token_grid"] == [8, 8]
    hist = result["histograms"]["keep_prob"]
    assert sum(hist) == 6 * 64 and len(result["histograms"]["edges"]) == len(hist) + 1
    [item] = result["landscape"]
    assert min(item["random"]) >= item["optimum"] - 1e-9


def test_curves_start_at_the_model_probability(mrf_report):
    """Step 0 of deletion is the unmodified input, for every ranking and mode."""
    _, result = mrf_report
    curves = result["curves"]
    starts = [curves[f"deletion.{mode}.{name}"][0] for mode in ("feature", "pixel")
              for name in ("energy", "magnitude", "gradcam", "mask", "random")]
    np.testing.assert_allclose(starts, starts[0], rtol=1e-5)


def test_limit_spreads_images_over_the_split():
    assert chosen_images(10, 4) == [0, 3, 6, 9]
    assert chosen_images(200, 128)[-1] == 199 and len(set(chosen_images(200, 128))) == 128
    assert chosen_images(3, None) == chosen_images(3, 5) == [0, 1, 2]


def test_baseline_run_has_null_energy_metrics(tiny_runs, tiny_data, tmp_path):
    settings = EvalSettings(modes=("feature",), seeds=1, steps=2, panels=1, levels=(0.5,))
    m = evaluate_run(tiny_runs["baseline"], tiny_data, tmp_path, settings, progress=False)["metrics"]
    for key in ("deletion_auc.feature.energy", "deletion_auc.feature.mask",
                "deletion_auc.feature.path", "pointing_game.path", "iou.solved",
                "iou.learned", "pointing_game.energy", "sparsity.entropy", "accuracy.solved",
                "cost.flops.extra", "accuracy.baseline"):
        assert m[key] is None, key
    for key in ("deletion_auc.feature.magnitude", "insertion_auc.feature.gradcam",
                "pointing_game.random", "occlusion.roi_only"):
        assert 0 <= m[key] <= 1, key
    assert not (tmp_path / "keep_hist.png").exists() and (tmp_path / "masks.png").exists()


def test_compare_side_by_side_and_cache(tiny_runs, tiny_data, tmp_path):
    settings = EvalSettings(modes=("feature",), seeds=1, steps=2, panels=2, landscape=0,
                            levels=(0.5,), limit=4)
    runs = [tiny_runs["baseline"], tiny_runs["ersm"]]
    out = compare_runs(runs, tiny_data, tmp_path, settings, names=["base", "ersm"],
                       progress=False)
    assert list(out["runs"]) == ["base", "ersm"]
    assert {"compare_auc.png", "compare_metrics.png", "compare_masks.png", "report.md",
            "metrics.json"} <= {p.name for p in tmp_path.iterdir()}
    report = (tmp_path / "report.md").read_text()
    assert "| metric | base | ersm |" in report and "runs/ersm/report.md" in report
    stamp = (tmp_path / "runs" / "ersm" / "metrics.json").stat().st_mtime_ns
    again = compare_runs(runs, tiny_data, tmp_path, settings, names=["base", "ersm"],
                         progress=False)
    assert (tmp_path / "runs" / "ersm" / "metrics.json").stat().st_mtime_ns == stamp  # cached
    assert again["runs"]["ersm"]["metrics"] == out["runs"]["ersm"]["metrics"]
    with pytest.raises(ValueError, match="one distinct name per run"):
        compare_runs(runs, tiny_data, tmp_path, settings, names=["a", "a"], progress=False)


def test_cli_evaluate_and_compare(tiny_runs, tiny_data, tmp_path, capsys):
    common = ["--data", str(tiny_data), "--modes", "feature", "--seeds", "1", "--steps", "2",
              "--limit", "2", "-q"]
    assert main(["evaluate", "--run", str(tiny_runs["ersm"]), "--out", str(tmp_path / "e"),
                 *common]) == 0
    assert "ersm): accuracy" in capsys.readouterr().out
    assert (tmp_path / "e" / "metrics.json").is_file()
    assert main(["compare", str(tiny_runs["baseline"]), str(tiny_runs["mrf"]), "--out",
                 str(tmp_path / "c"), *common]) == 0
    assert "compared 2 runs" in capsys.readouterr().out
    assert main(["evaluate", "--run", str(tmp_path / "nope"), "--out", str(tmp_path / "x"),
                 *common]) == 2
    assert "not a training run directory" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(tiny_runs["ersm"]), "--out", str(tmp_path / "y"),
                 "--data", str(tiny_data), "--modes", "voxel"]) == 2
    assert "modes must be a non-empty subset" in capsys.readouterr().err
