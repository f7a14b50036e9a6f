"""Seeded synthetic datasets with exact object masks and a spurious background cue.

Two generators write the image-folder layout (:class:`~ersm.data.ImageFolderDataset`)::

    DIR/{train,test}/<class>/<index>.png        RGB images
    DIR/masks/{train,test}/<class>/<index>.png  object masks (255 = object, 0 = not)
    DIR/items.csv                               split, path, label, class, background
    DIR/meta.json                               generator, seed, n, spurious rate, classes

- :func:`make_synthetic_dataset`: one coloured, textured shape per image on a blotchy
  background cluttered with grey distractor shapes. The class decides the outline; by
  default colour and texture are drawn independently of the class (``colour="random"``,
  ``texture="random"``), so only the outline tells the class; ``texture="class"`` and
  ``colour="class"`` give the older, easier variants where they tell it too.
- :func:`make_digits_in_clutter`: a scikit-learn 8×8 digit (bundled with the package,
  no download) upscaled into the same kind of clutter.

**The spurious cue** (Waterbirds-style): each class has a background tint. In ``train``
the background carries the tint of the image's own class for a fraction ``spurious = P``
of the images (exactly, up to rounding) and a tint drawn uniformly from all ``K`` classes
otherwise, so ``P = 0`` makes the tint independent of the class and a share
``P + (1 − P) / K`` of the train images shows its own class's tint; in ``test`` the tint is
drawn uniformly and independently of the class. The
tint's class is column ``background`` of ``items.csv`` (for group accuracies).

**Determinism**: every image is drawn from its own generator seeded by ``(seed, index)``,
so the same arguments write byte-identical files. Files are written to a temporary name
and renamed; ``meta.json`` is written last, so its presence marks a complete dataset.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ..io.atomic import atomic_write_text
from ._draw import (
    SHAPES,
    TEXTURES,
    background,
    distractors,
    hsv,
    paint,
    shape_mask,
    texture,
    to_uint8,
)

FORMAT = "ersm-synth"
DEFAULT_SHAPES: tuple[str, ...] = ("cross", "disc", "square", "triangle")
COLOURINGS: tuple[str, ...] = ("random", "class")
TEXTURINGS: tuple[str, ...] = ("random", "class")
DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
ITEM_FIELDS: tuple[str, ...] = ("split", "path", "label", "class", "background")


@dataclass(frozen=True)
class PlannedItem:
    """What one image shows: its class and the class whose tint its background has."""

    index: int
    split: str
    label: int
    background: int


Drawn = tuple[np.ndarray, np.ndarray]  # (RGB float (S, S, 3), mask bool (S, S))
Renderer = Callable[[np.random.Generator, PlannedItem, int], Drawn]  # (rng, item, size) -> Drawn


def plan_items(n: int, num_classes: int, spurious: float, test_fraction: float,
               seed: int) -> list[PlannedItem]:
    """Split, label and background class of every image.

    Labels are balanced within each split (``index mod K``, shuffled). In train exactly
    ``round(spurious * n_train)`` images get their own class's background, the others one
    drawn uniformly from all classes (``spurious = 0``: independent of the label); in test
    backgrounds are uniform and independent.

    Args:
        n: total number of images; ``round(n * test_fraction)`` go to test.
        num_classes: ``K ≥ 2``.
        spurious: ``P ∈ [0, 1]``.
        test_fraction: in ``[0, 1)``.
        seed: integer seed.

    Returns:
        ``n`` items, train first, ``index`` = position.
    """
    if num_classes < 2:
        raise ValueError(f"need at least 2 classes, got {num_classes}")
    if not 0.0 <= spurious <= 1.0:
        raise ValueError(f"spurious must be in [0, 1], got {spurious}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng([seed, 0])
    n_test = round(n * test_fraction)
    n_train = n - n_test
    train_labels = rng.permutation(np.arange(n_train) % num_classes)
    matches = np.zeros(n_train, dtype=bool)
    matches[rng.permutation(n_train)[:round(spurious * n_train)]] = True
    others = rng.integers(0, num_classes, n_train)
    train_bg = np.where(matches, train_labels, others)
    test_labels = rng.permutation(np.arange(n_test) % num_classes)
    test_bg = rng.integers(0, num_classes, n_test)
    splits = ["train"] * n_train + ["test"] * n_test
    labels = np.concatenate([train_labels, test_labels])
    backgrounds = np.concatenate([train_bg, test_bg])
    return [PlannedItem(i, s, int(lab), int(bg))
            for i, (s, lab, bg) in enumerate(zip(splits, labels, backgrounds))]


def background_tints(num_classes: int) -> np.ndarray:
    """``(K, 3)`` muted, evenly spaced hues: class ``k``'s background tint."""
    return np.stack([hsv((k + 0.5) / num_classes, 0.45, 0.75) for k in range(num_classes)])


def draw_item(item: PlannedItem, seed: int, size: int, tints: np.ndarray,
              render: Renderer) -> tuple[np.ndarray, np.ndarray]:
    """Render one image: tinted clutter, then the object on top.

    Returns:
        ``(image uint8 (S, S, 3), mask bool (S, S))``.
    """
    rng = np.random.default_rng([seed, 1, item.index])
    canvas = background(size, rng, tints[item.background])
    canvas = distractors(canvas, rng, int(rng.integers(3, 7)), radius=(0.05, 0.11))
    layer, mask = render(rng, item, size)
    return to_uint8(paint(canvas, mask, layer)), mask


def _random_center(rng: np.random.Generator, size: int, margin: float) -> tuple[float, float]:
    return tuple(rng.uniform(margin, size - margin, 2))


def shape_renderer(classes: Sequence[str], colour: str = "random",
                   texture_by: str = "random") -> Renderer:
    """Renderer for shape classes.

    Args:
        classes: shape names, indexed by label.
        colour: ``"class"``: hue fixed by the shape's name; ``"random"``: hue uniform in
            ``[0, 1)``, independent of the class.
        texture_by: ``"class"``: texture (solid, stripes, checker, dots) fixed by the
            shape's name; ``"random"``: uniform, independent of the class (then only the
            outline tells the class).
    """
    if colour not in COLOURINGS:
        raise ValueError(f"colour must be one of {COLOURINGS}, got {colour!r}")
    if texture_by not in TEXTURINGS:
        raise ValueError(f"texture must be one of {TEXTURINGS}, got {texture_by!r}")

    def render(rng: np.random.Generator, item: PlannedItem, size: int) -> Drawn:
        kind = classes[item.label]
        look = SHAPES.index(kind)
        radius = rng.uniform(0.2, 0.3) * size
        center = _random_center(rng, size, 1.1 * radius + 1)
        mask = shape_mask(kind, size, center, radius, rng.uniform(0, 2 * np.pi))
        hue = look / len(SHAPES) if colour == "class" else rng.uniform(0, 1)
        pattern = (TEXTURES[look % len(TEXTURES)] if texture_by == "class"
                   else TEXTURES[int(rng.integers(len(TEXTURES)))])
        tone = np.clip(hsv(hue, 0.85, 0.95) + rng.normal(0, 0.04, 3), 0, 1)
        shade = texture(pattern, size, rng)
        return tone * shade[..., None], mask

    return render


def digit_renderer(images: np.ndarray, targets: np.ndarray, test_from: int) -> Renderer:
    """Renderer placing an upscaled 8×8 digit; train/test draw from disjoint digit samples.

    Args:
        images: ``(N, 8, 8)`` intensities in ``[0, 16]`` (``load_digits().images``).
        targets: ``(N,)`` digit labels.
        test_from: samples ``[test_from:]`` serve the test split, the rest train.
    """
    rows = {"train": slice(0, test_from), "test": slice(test_from, len(targets))}
    pools = {split: [np.flatnonzero(targets[part] == d) + part.start for d in range(10)]
             for split, part in rows.items()}

    def render(rng: np.random.Generator, item: PlannedItem, size: int) -> Drawn:
        pool = pools[item.split][item.label]
        digit = images[pool[int(rng.integers(len(pool)))]] / 16.0
        side = max(8, round(rng.uniform(0.45, 0.6) * size))
        big = ndimage.zoom(digit, side / 8, order=1, grid_mode=True, mode="nearest")
        big = np.clip(big, 0, 1)[:side, :side]
        top, left = (int(v) for v in rng.integers(0, size - side + 1, 2))
        intensity = np.zeros((size, size))
        intensity[top:top + side, left:left + side] = big
        colour = hsv(rng.uniform(0, 1), 0.8, 0.95)
        return colour * (0.7 + 0.3 * intensity)[..., None], intensity > 0.35

    return render


def _save_png(path: Path, array: np.ndarray) -> None:
    """Encode, write to a temporary name, rename; no fsync per image (too slow for thousands
    of files): ``meta.json``, written last, marks a finished dataset."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)


def _prepare(out_dir: Path, overwrite: bool) -> None:
    """Create ``out_dir``; refuse a non-empty one unless ``overwrite`` and it is our output."""
    if out_dir.exists() and any(out_dir.iterdir()):
        meta = out_dir / "meta.json"
        ours = (meta.is_file()
                and json.loads(meta.read_text(encoding="utf-8")).get("format") == FORMAT)
        if not overwrite:
            raise FileExistsError(f"{out_dir} is not empty; pass overwrite=True (--overwrite) to "
                                  f"replace an earlier synthetic dataset there")
        if not ours:
            raise FileExistsError(f"refusing to overwrite {out_dir}: it has no {FORMAT} meta.json")
        meta.unlink()
        for sub in ("train", "test", "masks"):
            shutil.rmtree(out_dir / sub, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def _items_csv(rows: list[dict[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ITEM_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_dataset(out_dir: str | os.PathLike, kind: str, classes: Sequence[str], render: Renderer,
                  n: int, seed: int, spurious: float, size: int, test_fraction: float,
                  overwrite: bool, extra: dict | None = None) -> dict:
    """Plan, draw and write a dataset (the generators' shared driver).

    Returns:
        the metadata written to ``meta.json``.
    """
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels, got {size}")
    out_dir = Path(out_dir)
    _prepare(out_dir, overwrite)
    items = plan_items(n, len(classes), spurious, test_fraction, seed)
    tints = background_tints(len(classes))
    for split in ("train", "test"):  # every class folder exists, so both splits list all classes
        for name in classes:
            (out_dir / split / name).mkdir(parents=True, exist_ok=True)
            (out_dir / "masks" / split / name).mkdir(parents=True, exist_ok=True)
    rows = []
    for item in items:
        image, mask = draw_item(item, seed, size, tints, render)
        rel = Path(item.split) / classes[item.label] / f"{item.index:06d}.png"
        _save_png(out_dir / rel, image)
        _save_png(out_dir / "masks" / rel, mask.astype(np.uint8) * 255)
        rows.append({"split": item.split, "path": rel.as_posix(), "label": item.label,
                     "class": classes[item.label], "background": item.background})
    atomic_write_text(out_dir / "items.csv", _items_csv(rows))
    n_train = sum(item.split == "train" for item in items)
    meta = {"format": FORMAT, "version": 1, "kind": kind, "seed": seed, "n": n,
            "n_train": n_train, "n_test": n - n_train, "spurious": spurious, "size": size,
            "test_fraction": test_fraction, "classes": list(classes),
            "background_tints": np.round(tints, 4).tolist(), **(extra or {})}
    atomic_write_text(out_dir / "meta.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def make_synthetic_dataset(out_dir: str | os.PathLike, n: int, seed: int, spurious: float = 0.0,
                           size: int = 64, classes: Sequence[str] = DEFAULT_SHAPES,
                           test_fraction: float = 0.25, overwrite: bool = False,
                           colour: str = "random", texture: str = "random") -> dict:
    """Write shapes-in-clutter images with exact masks and an optional spurious background.

    With the defaults (``spurious=0``, ``colour="random"``, ``texture="random"``) neither
    the object's colour and texture nor the background tint carries class information:
    only the object's outline does. ``texture="class"`` adds a class texture (easier).

    Args:
        out_dir: destination folder (created; must be empty unless ``overwrite``).
        n: total number of images (train + test).
        seed: integer seed; same arguments ⇒ byte-identical files.
        spurious: fraction ``P`` of train images forced to their class's background tint
            (the rest draw the tint uniformly; 0 = independent of the class).
        size: image side in pixels (``≥ 16``).
        classes: shape names from ``("disc", "square", "triangle", "cross", "ring",
            "diamond")``; written and labelled in sorted order (as the image folder
            reader sorts them).
        test_fraction: share of ``n`` in the test split.
        overwrite: replace an earlier synthetic dataset in ``out_dir``.
        colour: ``"random"`` (object hue independent of the class) or ``"class"`` (fixed
            by the class).
        texture: ``"random"`` (independent of the class) or ``"class"`` (fixed by it).

    Returns:
        the metadata written to ``meta.json`` (with ``colour`` and ``texture``).

    Raises:
        ValueError: unknown or repeated classes, unknown ``colour``, fewer than 2, bad rates or sizes.
        FileExistsError: ``out_dir`` is not empty (and not replaceable).

    Example:
        >>> import tempfile
        >>> meta = make_synthetic_dataset(tempfile.mkdtemp(), n=8, seed=0, size=32)
        >>> meta["classes"], meta["n_train"], meta["n_test"]
        (['cross', 'disc', 'square', 'triangle'], 6, 2)
    """
    names = sorted(classes)
    unknown = sorted(set(names) - set(SHAPES))
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"classes must be distinct names from {SHAPES}, got {list(classes)}")
    render = shape_renderer(names, colour, texture)
    return write_dataset(out_dir, "shapes", names, render, n, seed, spurious, size,
                         test_fraction, overwrite, extra={"colour": colour, "texture": texture})


def make_digits_in_clutter(out_dir: str | os.PathLike, n: int, seed: int, spurious: float = 0.9,
                           size: int = 64, test_fraction: float = 0.25,
                           overwrite: bool = False) -> dict:
    """Write scikit-learn digits in clutter, with exact masks and a spurious background cue.

    The 1,797 bundled 8×8 digits are split by position: the first 75 % are drawn for
    train images, the rest for test images, so no digit sample appears in both. A digit
    is upscaled bilinearly to 45–60 % of ``size``; its mask is intensity > 0.35 (the 0–16
    scale divided by 16) and only masked pixels are painted.

    Args:
        out_dir, n, seed, spurious, size, test_fraction, overwrite: as for
            :func:`make_synthetic_dataset`; classes are ``"0"`` … ``"9"``.

    Returns:
        the metadata written to ``meta.json``.

    Raises:
        ImportError: scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise ImportError("make_digits_in_clutter needs scikit-learn: "
                          "pip install scikit-learn") from exc
    digits = load_digits()
    test_from = round(0.75 * len(digits.target))
    render = digit_renderer(digits.images, digits.target, test_from=test_from)
    return write_dataset(out_dir, "digits", list(DIGIT_CLASSES), render, n, seed, spurious, size,
                         test_fraction, overwrite)


def read_items(root: str | os.PathLike) -> list[dict]:
    """Rows of ``DIR/items.csv`` with ``label`` and ``background`` as ints.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp(); _ = make_synthetic_dataset(d, n=4, seed=1, size=16)
        >>> sorted(read_items(d)[0])
        ['background', 'class', 'label', 'path', 'split']
    """
    path = Path(root) / "items.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no items.csv in {root}: not written by make_synthetic_dataset?")
    with path.open(newline="", encoding="utf-8") as f:
        return [{**row, "label": int(row["label"]), "background": int(row["background"])}
                for row in csv.DictReader(f)]


__all__ = ["COLOURINGS", "TEXTURINGS", "DEFAULT_SHAPES", "DIGIT_CLASSES", "PlannedItem", "background_tints",
           "make_digits_in_clutter", "make_synthetic_dataset", "plan_items", "read_items"]
