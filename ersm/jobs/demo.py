"""``ersm demo``: a picture segmented by a graph cut, then masks in a classifier, evaluated.

:func:`run_demo` (``ersm demo --quick``) runs offline in about a second: the photos ship with scikit-image, are downsampled to
``size`` pixels on the longer side, and segmented by :func:`~ersm.jobs.demo_model.box_segment`
(box prior, smoothed colour histograms, :func:`ersm.contrast_weights`, exact
:func:`ersm.solve`). Writes, each atomically:

- ``OUT/mask.png``: the mask (white = object), one pixel per token;
- ``OUT/overlay.png``: the photo with the background dimmed and the cut in red;
- ``OUT/demo.json``: image, shape, backend, energy, mask fraction, rounds, timings.

:func:`run_story` (plain ``ersm demo``, a few minutes on two CPU cores) continues with a
synthetic shapes set whose object colour and background carry no class information,
trains a baseline, an ERSM-layer and an MRF-layer classifier (the MRF layer with a keep
budget, ``keep_ratio`` = 0.15 by default, so its masks are sparse), solves their masks
exactly at that budget, evaluates and compares them (:mod:`ersm.evaluation`) and writes
``OUT/report.md`` with sentences that say what the masks show.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..io.atomic import atomic_write, atomic_write_text
from .demo_model import Segmentation, box_segment
from ..solvers.defaults import DEFAULT_EXACT

IMAGES: dict[str, tuple[float, float, float, float]] = {
    "coffee": (0.02, 0.98, 0.12, 0.88),
    "astronaut": (0.05, 1.0, 0.05, 0.75),
}
"""Built-in photos (``skimage.data.<name>``) and the object's box as fractions of the
image: ``(top, bottom, left, right)``."""


@dataclass
class DemoResult:
    """What :func:`run_demo` computed and wrote (also the content of ``demo.json``).

    Attributes:
        image: photo name.
        shape: ``(H, W)`` of the segmented grid.
        backend: solver backend.
        energy: final energy (float).
        mask_fraction: fraction of pixels kept.
        rounds: re-estimate-and-solve rounds.
        seconds: wall times: ``load``, ``unaries``, ``solve``, ``figures``, ``total``.
        files: written files by kind (``mask``, ``overlay``, ``json``).
    """

    image: str
    shape: tuple[int, int]
    backend: str
    energy: float
    mask_fraction: float
    rounds: int
    seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the terminal."""
        h, w = self.shape
        return (f"{self.image} {h}x{w}: kept {100 * self.mask_fraction:.1f}% of pixels, "
                f"energy {self.energy:.2f} after {self.rounds} rounds with {self.backend!r} "
                f"(solve {self.seconds['solve']:.2f} s, total {self.seconds['total']:.2f} s); "
                f"wrote {self.files['overlay']}")


def load_image(name: str, size: int) -> np.ndarray:
    """``skimage.data.<name>()`` resized to ``size`` px on its longer side.

    Returns:
        ``(H, W, 3)`` float64 RGB in ``[0, 1]``.
    """
    if name not in IMAGES:
        raise ValueError(f"image must be one of {sorted(IMAGES)}, got {name!r}")
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels, got {size}")
    from skimage import data
    from skimage.transform import resize

    photo = getattr(data, name)()
    scale = size / max(photo.shape[:2])
    shape = (max(1, round(photo.shape[0] * scale)), max(1, round(photo.shape[1] * scale)))
    return resize(photo, shape, anti_aliasing=True).astype(np.float64)


def box_mask(shape: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    """``(H, W)`` bool, True inside ``box = (top, bottom, left, right)`` fractions."""
    h, w = shape
    top, bottom, left, right = box
    mask = np.zeros(shape, dtype=bool)
    mask[round(top * h):round(bottom * h), round(left * w):round(right * w)] = True
    return mask


def _save_figures(out_dir: Path, image: np.ndarray, seg: Segmentation, title: str) -> dict[str, str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.image import imsave

    mask_png = atomic_write(out_dir / "mask.png",
                            lambda f: imsave(f, seg.mask, cmap="gray", vmin=0, vmax=1, format="png"))
    h, w = seg.mask.shape
    fig = Figure(figsize=(6.0, 6.0 * h / w + 0.4))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    ax.imshow(np.where(seg.mask[..., None], image, 0.3 * image))
    ax.contour(seg.mask, levels=[0.5], colors="red", linewidths=1.2)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    overlay_png = atomic_write(out_dir / "overlay.png", lambda f: fig.savefig(f, format="png", dpi=100))
    return {"mask": str(mask_png), "overlay": str(overlay_png)}


PREVIEW_SIZE = 32
"""Longer side of the preview :func:`run_demo` reports first (``show``)."""
PREVIEW_BACKEND = "reference"
"""Exact backend of the preview: pure Python, nothing to compile (a cold Numba cache makes
the first ``graphcut`` solve wait for its kernel to compile)."""


def preview(photo: np.ndarray, image: str, gamma: float = 5.0) -> str:
    """One line: the exact cut of ``photo`` downsampled to :data:`PREVIEW_SIZE` pixels."""
    from skimage.transform import resize

    start = time.perf_counter()
    scale = PREVIEW_SIZE / max(photo.shape[:2])
    small = resize(photo, (max(1, round(photo.shape[0] * scale)),
                           max(1, round(photo.shape[1] * scale))), anti_aliasing=True)
    seg = box_segment(small, box_mask(small.shape[:2], IMAGES[image]), gamma=gamma,
                      backend=PREVIEW_BACKEND)
    h, w = seg.mask.shape
    return (f"first result: {image} at {h}x{w}: kept {100 * seg.mask.mean():.1f}% of pixels, "
            f"energy {seg.energy:.2f}, exact cut by {PREVIEW_BACKEND!r} in "
            f"{time.perf_counter() - start:.2f} s; now the full size")


def run_demo(out_dir: str | os.PathLike = "ersm-demo", image: str = "coffee", size: int = 192,
             gamma: float = 5.0, backend: str = DEFAULT_EXACT,
             show: Callable[[str], object] | None = None) -> DemoResult:
    """Segment a built-in photo and write ``mask.png``, ``overlay.png``, ``demo.json``.

    Args:
        out_dir: output directory (created if needed).
        image: a key of :data:`IMAGES`.
        size: longer side of the segmented grid in pixels (tokens).
        gamma: strength of the contrast-sensitive pairwise term.
        backend: exact solver backend.
        show: if given, called first with a one-line :func:`preview` (a small exact cut
            that needs no compiled kernel), so a terminal shows a result at once; the
            files and the result do not depend on it.

    Returns:
        :class:`DemoResult` (also written as ``demo.json``).

    Example:
        >>> import tempfile
        >>> run_demo(tempfile.mkdtemp(), size=64).mask_fraction > 0.1  # doctest: +SKIP
        True
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    photo = load_image(image, size)
    loaded = time.perf_counter()
    if show is not None:
        show(preview(photo, image, gamma))
    seg = box_segment(photo, box_mask(photo.shape[:2], IMAGES[image]), gamma=gamma, backend=backend)
    segmented = time.perf_counter()
    title = f"ersm demo: {image}, energy {seg.energy:.1f}, {100 * seg.mask.mean():.1f}% kept"
    files = _save_figures(out_dir, photo, seg, title)
    end = time.perf_counter()
    seconds = {"load": loaded - start, **seg.seconds, "figures": end - segmented}
    result = DemoResult(image=image, shape=seg.mask.shape, backend=backend, energy=seg.energy,
                        mask_fraction=float(seg.mask.mean()), rounds=seg.rounds, seconds=seconds,
                        files={**files, "json": str(out_dir / "demo.json")})
    result.seconds["total"] = time.perf_counter() - start
    atomic_write_text(out_dir / "demo.json", json.dumps(asdict(result), indent=2) + "\n")
    return result


# ---------------------------------------------------------------- the full story

STORY_MODELS: tuple[tuple[str, str, str | None], ...] = (
    ("baseline", "baseline", None), ("ersm", "ersm", None), ("mrf", "mrf", None))
"""``(name, model, training backend)`` of the runs the story trains and compares."""


@dataclass
class StoryResult:
    """What :func:`run_story` did (also written as ``story.json``).

    Attributes:
        picture: the picture segmentation (step 1).
        data: the synthetic dataset folder.
        runs: run directory by name.
        report: the comparison folder (``report.md``, figures, per-run reports).
        headline: per run, a few metrics of the comparison.
        seconds: wall time per step and ``total``.
        masks: per run with a mask layer, the budget masks' summary
            (:func:`ersm.jobs.export.summarize_masks`: kept fraction, accuracy, IoU, ...).
    """

    picture: DemoResult
    data: str
    runs: dict[str, str]
    report: str
    headline: dict[str, dict[str, float | None]]
    seconds: dict[str, float] = field(default_factory=dict)
    masks: dict[str, dict[str, float]] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [self.picture.summary()]
        for name, values in self.headline.items():
            lines.append(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()
                                                  if v is not None))
        for name, values in self.masks.items():
            lines.append(f"{name} masks at the budget: kept {values['kept']:.3f}, IoU "
                         f"{values.get('iou_solved', float('nan')):.3f}, accuracy "
                         f"{values['accuracy']:.3f}")
        lines.append(f"story done in {self.seconds['total']:.0f} s; wrote "
                     f"{Path(self.report).parent / 'report.md'}")
        return "\n".join(lines)


STORY_KEYS: tuple[str, ...] = ("accuracy", "iou.solved", "iou.learned", "iou.solved_matched",
                               "deletion_auc.feature.energy", "deletion_auc.feature.magnitude",
                               "deletion_auc.feature.random", "occlusion.roi_masked")


KEEP_RATIO = 0.15
"""Default keep budget of the story's MRF layer (objects cover about 14 % of the tokens)."""


def _ensure_dataset(root: Path, n: int, seed: int, size: int) -> bool:
    """Write the synthetic set unless ``root`` already holds this exact one; True if written."""
    from ..data.synth import make_synthetic_dataset

    meta = root / "meta.json"
    if meta.is_file():
        old = json.loads(meta.read_text(encoding="utf-8"))
        if ((old.get("n"), old.get("seed"), old.get("size"), old.get("spurious"),
             old.get("colour"), old.get("texture")) == (n, seed, size, 0.0, "random", "class")):
            return False
    # class textures: the demo's few images and epochs learn them; the study (bench/) uses
    # the default, outline-only shapes
    make_synthetic_dataset(root, n=n, seed=seed, size=size, spurious=0.0, colour="random",
                           texture="class", overwrite=True)
    return True


def _budget_masks(out_dir: Path, runs: dict[str, Path], data: Path, keep_ratio: float,
                  limit: int | None = None) -> dict[str, dict[str, float]]:
    """Exact masks at ``keep_ratio`` of the runs with a mask layer and their summary
    (:func:`ersm.jobs.export.summarize_masks`); cached next to the run's checkpoint."""
    from ..runs.checkpoint import CHECKPOINT_FILE
    from .export import export_masks, summarize_masks

    summaries = {}
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    for name, run in runs.items():
        if name == "baseline":
            continue
        cache = out_dir / "masks" / f"{name}-r{keep_ratio}.json"
        if cache.is_file() and cache.stat().st_mtime_ns >= (run / CHECKPOINT_FILE).stat().st_mtime_ns:
            summaries[name] = json.loads(cache.read_text(encoding="utf-8"))
            continue
        arrays = export_masks(run, data, "test", out_dir / "masks" / f"{name}.npz",
                              backend="graphcut", keep_ratio=keep_ratio, limit=limit)
        summary = summarize_masks(arrays, data)
        if "mask_topk" in arrays:
            top = {"mask": arrays["mask_topk"], "keep_prob": arrays["keep_prob"],
                   "pred": arrays["pred"], "label": arrays["label"], "paths": arrays["paths"]}
            summary["iou_topk"] = summarize_masks(top, data).get("iou_solved", float("nan"))
            summary["active_fraction"] = float((arrays["keep_prob"] > 0.5).mean())
        atomic_write_text(cache, json.dumps(summary, indent=1) + "\n")
        summaries[name] = summary
    return summaries


def mask_sentences(summaries: dict[str, dict[str, float]], keep_ratio: float) -> str:
    """Plain sentences on what the story's masks show and what they do not."""
    lines = []
    mrf, paper = summaries.get("mrf"), summaries.get("ersm")
    if mrf:
        lines.append(
            f"- **MRF layer** (trained with keep budget r = {keep_ratio}): its exact graph-cut "
            f"masks keep {100 * mrf['kept']:.1f} % of the tokens (target {100 * keep_ratio:.0f} %; "
            f"the learned gate averages {mrf['learned_kept']:.3f}) and overlap the object with "
            f"IoU {mrf.get('iou_solved', float('nan')):.2f} (objects cover "
            f"{100 * mrf.get('object_share', float('nan')):.0f} % of the tokens). Gating the "
            f"features with these solved masks, the classifier gets "
            f"{100 * mrf['accuracy']:.1f} % of the test images right "
            f"({100 * mrf.get('accuracy_learned', float('nan')):.1f} % with its learned gate). "
            f"Solved and learned masks of the same size agree on "
            f"{100 * mrf['agreement']:.1f} % of the tokens (learned mask IoU "
            f"{mrf.get('iou_learned', float('nan')):.2f}).")
        if abs(mrf["kept"] - keep_ratio) > 0.04:
            lines.append(
                f"  The kept fraction is far from the target: for many images the exact path "
                f"has no cut near {100 * keep_ratio:.0f} % of the tokens (a nearly flat θ or "
                f"strong coupling make the mask jump from few tokens to many); train longer "
                f"or on more images.")
    if paper:
        everything = paper.get("active_fraction", 0.0) >= 0.99
        lines.append(
            f"- **Paper layer** (no budget in training): its keep probabilities average "
            f"{paper['learned_kept']:.3f}"
            + (", and its gate keeps every token (p > 0.5 everywhere): as trained, it does "
               "not select." if everything else
               f"; {100 * paper.get('active_fraction', float('nan')):.1f} % of tokens have "
               f"p > 0.5.")
            + f" Forced to the same budget, its top-{100 * keep_ratio:.0f} % tokens overlap "
            f"the object with IoU {paper.get('iou_topk', float('nan')):.2f}, and the MRF its "
            f"quantities imply, solved exactly at r, with IoU "
            f"{paper.get('iou_solved', float('nan')):.2f}.")
    lines.append(
        "- What the masks do not show: they live on the 16×16 token grid (4×4 pixels per "
        "token), so object outlines are blocky; a budget above the object's share must keep "
        "some background; one seed and a small set, so differences of a few points are "
        "noise; and a mask that finds the object here says nothing yet about real images "
        "(see bench/results/masks.md for two seeds and all keep ratios).")
    return "\n".join(lines) + "\n"


def _same_run(run: Path, config: object) -> bool:
    """Whether ``run`` holds a (possibly unfinished) run of ``config``: resume it then;
    otherwise (other data, epochs or seed) train afresh over it."""
    from ..runs.config import CONFIG_FILE, load_config, with_backbone_defaults

    if not (run / CONFIG_FILE).is_file():
        return False
    saved = with_backbone_defaults(load_config(run).replace(classes=None))
    return saved == with_backbone_defaults(config)


def _story_report(out_dir: Path, story: StoryResult, settings: dict) -> Path:
    from ..evaluation.report import compare_table

    results = json.loads((Path(story.report) / "metrics.json").read_text(encoding="utf-8"))
    table = compare_table(results["runs"], STORY_KEYS)
    sentences = mask_sentences(story.masks, settings["keep_ratio"])
    text = (f"# ersm demo\n\n## 1. A picture, segmented by an exact graph cut\n\n"
            f"{story.picture.summary()}\n\n![overlay](overlay.png)\n\n"
            f"## 2. Masks in a classifier, on shapes where only the object tells the class\n\n"
            f"A synthetic set (`data/`, {settings['n']} images, {settings['image_size']} px) "
            f"whose object colour and background tint are independent of the class (the "
            f"outline and texture tell it). Three small CNNs trained for {settings['epochs']} "
            f"epochs: no mask layer (`baseline`), the paper's layer (`ersm`), and the MRF "
            f"layer trained with a keep budget r = {settings['keep_ratio']} (exact cut "
            f"forward, straight-through gradient: `ste`, the default with a budget) "
            f"(`mrf`); their token energies are then solved exactly (`graphcut`), per image "
            f"at the cut whose size is closest to r (`masks/`).\n\n"
            f"### What the masks show\n\n{sentences}\n"
            f"### Comparison (`ersm compare`)\n\n{table}\n"
            f"`deletion_auc`: lower = the ranking finds the evidence; `roi_masked`: accuracy "
            f"with the object removed (high = the model reads the background). Full tables: "
            f"[report/report.md](report/report.md).\n\n"
            f"![masks](report/compare_masks.png)\n\n![auc](report/compare_auc.png)\n")
    return atomic_write_text(out_dir / "report.md", text)


def run_story(out_dir: str | os.PathLike = "ersm-demo", n: int = 800, epochs: int = 10,
              image_size: int = 64, seed: int = 0, limit: int | None = 96, steps: int = 8,
              image: str = "coffee", size: int = 192, gamma: float = 5.0,
              backend: str = DEFAULT_EXACT, progress: bool = True,
              keep_ratio: float = KEEP_RATIO) -> StoryResult:
    """The full demo: picture segmentation, then train, solve, evaluate and compare.

    1. :func:`run_demo` on a built-in photo (``OUT/overlay.png`` …);
    2. a synthetic spurious-background set in ``OUT/data``;
    3. baseline, ERSM-layer and MRF-layer small CNNs trained in ``OUT/runs/<name>``
       (resumable: an interrupted story continues where it stopped);
    4. :func:`ersm.evaluation.compare_runs` into ``OUT/report`` (masks solved with
       ``backend``; ``limit`` test images spread over the split, ``steps`` curve steps);
    5. ``OUT/report.md``: the story in short, with mask panels; ``OUT/story.json``.

    Args:
        out_dir: output folder.
        n: synthetic images (train + test, 25 % test).
        epochs: training epochs per model.
        image_size: synthetic image side in pixels.
        seed: data and training seed.
        limit: test images evaluated (None: all).
        steps: deletion/insertion curve steps.
        image, size, gamma: the picture step (see :func:`run_demo`).
        backend: exact solver for the picture and the masks.
        progress: tqdm bars while training and evaluating.
        keep_ratio: keep budget of the MRF layer (training and solved masks), and the
            size the paper layer's masks are cut to.

    Returns:
        :class:`StoryResult`.
    """
    from ..evaluation import EvalSettings, compare_runs
    from ..train import TrainConfig, train

    start = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(step: str) -> None:
        seconds[step] = time.perf_counter() - start - sum(seconds.values())

    out_dir = Path(out_dir)
    picture = run_demo(out_dir, image=image, size=size, gamma=gamma, backend=backend)
    lap("picture")
    data = out_dir / "data"
    new_data = _ensure_dataset(data, n, seed, image_size)
    lap("data")
    runs = {}
    for name, model, train_backend in STORY_MODELS:
        runs[name] = out_dir / "runs" / name
        layer = {"keep_ratio": keep_ratio} if model == "mrf" else {}
        config = TrainConfig(data=str(data), out=str(runs[name]), model=model,
                             backend=train_backend, epochs=epochs, image_size=image_size,
                             seed=seed, layer_kwargs=layer)
        train(config, resume=not new_data and _same_run(runs[name], config), progress=progress)
    lap("train")
    settings = EvalSettings(backend=backend, steps=steps, limit=limit)
    compared = compare_runs(list(runs.values()), data, out_dir / "report", settings,
                            names=list(runs), progress=progress, title="ersm demo: comparison")
    lap("evaluate")
    masks = _budget_masks(out_dir, runs, data, keep_ratio, limit)
    lap("masks")
    headline = {name: {k: r["metrics"].get(k) for k in STORY_KEYS}
                for name, r in compared["runs"].items()}
    story = StoryResult(picture=picture, data=str(data), runs={k: str(v) for k, v in runs.items()},
                        report=str(out_dir / "report"), headline=headline, seconds=seconds,
                        masks=masks)
    _story_report(out_dir, story, {"n": n, "image_size": image_size, "epochs": epochs,
                                   "keep_ratio": keep_ratio})
    story.seconds["total"] = time.perf_counter() - start
    atomic_write_text(out_dir / "story.json", json.dumps(asdict(story), indent=2) + "\n")
    return story
