"""Readers for public benchmark layouts, all returning a :class:`SampleDataset`.

Each reader only parses the dataset's own index files; images are read on demand with
the same item dicts as :class:`~ersm.data.ImageFolderDataset`. Nothing is downloaded:
point ``root`` at an extracted copy.

- **CUB-200-2011** (:func:`cub200`): ``images.txt``, ``image_class_labels.txt``,
  ``train_test_split.txt``, ``classes.txt``, ``images/``; masks from the optional
  ``segmentations/<class>/<stem>.png`` (soft: grey value = share of annotators; object =
  value > ``mask_threshold``, i.e. a majority by default).
- **Oxford-IIIT Pets** (:func:`oxford_pets`): ``annotations/trainval.txt`` (split
  ``"train"``) and ``annotations/test.txt``, ``images/<name>.jpg``, trimaps
  ``annotations/trimaps/<name>.png`` with 1 = pet, 2 = background, 3 = border; object =
  value 1 (the uncertain border counts as background unless ``border_is_object``).
- **Food-101** (:func:`food101`): ``meta/classes.txt``, ``meta/{train,test}.txt``,
  ``images/<class>/<id>.jpg``; no masks.

:func:`open_dataset` picks the reader from the files present (or by name).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Literal

from .dataset import (
    DatasetLayoutError,
    MaskRule,
    Sample,
    SampleDataset,
    Transform,
    WithMasks,
    above,
    check_split,
    check_with_masks,
    nonzero,
    one_of,
    resolve_masks,
)
from .image_folder import ImageFolderDataset

Layout = Literal["auto", "folder", "cub200", "oxford_pets", "food101"]


def read_table(path: Path, columns: int, layout: str) -> list[list[str]]:
    """Whitespace-separated rows of an index file; blank and ``#`` lines skipped.

    Raises:
        FileNotFoundError: the file is missing (named with the layout).
        DatasetLayoutError: a row has fewer than ``columns`` fields (line number given).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{layout} index file not found: {path}")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < columns:
            raise DatasetLayoutError(f"{path}:{number}: expected {columns} fields, got {line!r}")
        rows.append(fields[:columns])
    return rows


def _id_map(path: Path, layout: str) -> dict[str, str]:
    return {key: value for key, value in read_table(path, 2, layout)}


def _build(root: Path, entries: list[tuple[str, int]], classes: list[str],
           mask_paths: list[Path] | None, with_masks: WithMasks, where: str,
           transform: Transform | None, rule: MaskRule = nonzero) -> SampleDataset:
    """Make the dataset from ``(image path relative to root, label)`` entries."""
    if not entries:
        raise DatasetLayoutError(f"no images listed for this split under {root}")
    masks = ([None] * len(entries) if mask_paths is None
             else resolve_masks(mask_paths, with_masks, where))
    samples = [Sample(image=root / rel, label=label, path=rel, mask=mask)
               for (rel, label), mask in zip(entries, masks)]
    return SampleDataset(root, samples, classes, transform, rule)


def _mask_location(mask_dir: Path, with_masks: WithMasks, layout: str) -> bool:
    """Whether to look for masks in ``mask_dir``; ``with_masks=True`` requires it."""
    check_with_masks(with_masks)
    if with_masks is True and not mask_dir.is_dir():
        raise FileNotFoundError(f"with_masks=True but the {layout} mask folder {mask_dir} "
                                f"does not exist")
    return with_masks is not False and mask_dir.is_dir()


def cub200(root: str | os.PathLike, split: str, transform: Transform | None = None,
           with_masks: WithMasks = "auto", mask_threshold: int = 127) -> SampleDataset:
    """CUB-200-2011 (``root`` holds ``images.txt`` etc.).

    Args:
        root: the ``CUB_200_2011`` folder.
        split: ``"train"`` (``is_training_image`` = 1) or ``"test"``.
        transform: called on each item dict.
        with_masks: use ``root/segmentations`` (``"auto"``: if present).
        mask_threshold: object = segmentation value above it (0–255 grey scale).

    Returns:
        dataset with classes from ``classes.txt`` (in id order; label = class id − 1)
        and ``path`` = ``images/<class>/<file>``.

    Raises:
        FileNotFoundError: an index file or (with ``with_masks=True``) masks are missing.
        DatasetLayoutError: malformed index files or inconsistent ids.
    """
    root, layout = Path(root), "CUB-200-2011"
    is_train = check_split(split) == "train"
    class_rows = read_table(root / "classes.txt", 2, layout)
    classes = [name for _, name in sorted(class_rows, key=lambda r: int(r[0]))]
    labels = _id_map(root / "image_class_labels.txt", layout)
    in_train = _id_map(root / "train_test_split.txt", layout)
    entries = []
    for image_id, rel in read_table(root / "images.txt", 2, layout):
        if image_id not in labels or image_id not in in_train:
            raise DatasetLayoutError(f"{layout}: image id {image_id} ({rel}) has no class label or "
                                     f"train/test flag in {root}")
        label = int(labels[image_id]) - 1
        if not 0 <= label < len(classes):
            raise DatasetLayoutError(f"{layout}: image id {image_id} has class {label + 1}, "
                                     f"not in 1..{len(classes)}")
        if (in_train[image_id] == "1") == is_train:
            entries.append((f"images/{rel}", label))
    seg = root / "segmentations"
    masks = ([seg / Path(rel).relative_to("images").with_suffix(".png") for rel, _ in entries]
             if _mask_location(seg, with_masks, layout) else None)
    return _build(root, entries, classes, masks, with_masks, str(seg), transform,
                  partial(above, threshold=mask_threshold))


PETS_FOREGROUND, PETS_BACKGROUND, PETS_BORDER = 1, 2, 3


def oxford_pets(root: str | os.PathLike, split: str, transform: Transform | None = None,
                with_masks: WithMasks = "auto", border_is_object: bool = False) -> SampleDataset:
    """Oxford-IIIT Pets (``root`` holds ``images/`` and ``annotations/``).

    Args:
        root: the dataset folder.
        split: ``"train"`` (``trainval.txt``) or ``"test"`` (``test.txt``).
        transform: called on each item dict.
        with_masks: use the trimaps (``"auto"``: if ``annotations/trimaps`` exists).
        border_is_object: count trimap value 3 (border) as object; default: only 1 (pet).

    Returns:
        dataset with the 37 breeds as classes in class-id order (name = image name
        without its trailing ``_<number>``; label = class id − 1).

    Raises:
        FileNotFoundError, DatasetLayoutError: as for :func:`cub200`.
    """
    root, layout = Path(root), "Oxford-IIIT Pets"
    index = "trainval.txt" if check_split(split) == "train" else "test.txt"
    names: dict[int, str] = {}
    entries = []
    for name, class_id, *_ in read_table(root / "annotations" / index, 2, layout):
        label = int(class_id) - 1
        breed = name.rsplit("_", 1)[0]
        if names.setdefault(label, breed) != breed:
            raise DatasetLayoutError(f"{layout}: class id {class_id} is both {names[label]!r} "
                                     f"and {breed!r}")
        entries.append((f"images/{name}.jpg", label))
    if sorted(names) != list(range(len(names))):
        raise DatasetLayoutError(f"{layout}: class ids in {index} are not 1..{len(names)}: "
                                 f"{sorted(i + 1 for i in names)}")
    trimaps = root / "annotations" / "trimaps"
    masks = ([trimaps / f"{Path(rel).stem}.png" for rel, _ in entries]
             if _mask_location(trimaps, with_masks, layout) else None)
    accepted = (PETS_FOREGROUND, PETS_BORDER) if border_is_object else (PETS_FOREGROUND,)
    return _build(root, entries, [names[i] for i in range(len(names))], masks, with_masks,
                  str(trimaps), transform, partial(one_of, accepted=accepted))


def food101(root: str | os.PathLike, split: str, transform: Transform | None = None,
            with_masks: WithMasks = "auto") -> SampleDataset:
    """Food-101 (``root`` holds ``meta/`` and ``images/``); it has no masks.

    Args:
        root: the ``food-101`` folder.
        split: ``"train"`` or ``"test"`` (``meta/<split>.txt``).
        transform: called on each item dict.
        with_masks: ``True`` is an error (no masks exist); ``"auto"``/``False`` give none.

    Returns:
        dataset with classes from ``meta/classes.txt`` (in file order).
    """
    root, layout = Path(root), "Food-101"
    check_split(split)
    if check_with_masks(with_masks) is True:
        raise ValueError("with_masks=True but Food-101 has no object masks")
    classes = [row[0] for row in read_table(root / "meta" / "classes.txt", 1, layout)]
    index = {name: i for i, name in enumerate(classes)}
    entries = []
    for (stem,) in read_table(root / "meta" / f"{split}.txt", 1, layout):
        name = stem.split("/", 1)[0]
        if name not in index:
            raise DatasetLayoutError(f"{layout}: {stem!r} in meta/{split}.txt names a class not in "
                                     f"meta/classes.txt")
        entries.append((f"images/{stem}.jpg", index[name]))
    return _build(root, entries, classes, None, False, "", transform)


def detect_layout(root: str | os.PathLike) -> str:
    """Name the layout of ``root`` from its index files.

    Returns:
        ``"cub200"``, ``"oxford_pets"``, ``"food101"`` or ``"folder"``.

    Raises:
        DatasetLayoutError: none matches (the expected files are listed).
    """
    root = Path(root)
    if (root / "images.txt").is_file() and (root / "train_test_split.txt").is_file():
        return "cub200"
    if (root / "annotations" / "trainval.txt").is_file():
        return "oxford_pets"
    if (root / "meta" / "classes.txt").is_file():
        return "food101"
    if (root / "train").is_dir() or (root / "test").is_dir():
        return "folder"
    raise DatasetLayoutError(f"cannot tell the layout of {root}: expected train/ and test/ "
                             f"class folders (image folder), images.txt (CUB-200-2011), "
                             f"annotations/trainval.txt (Oxford-IIIT Pets) or meta/classes.txt "
                             f"(Food-101)")


READERS = {"folder": ImageFolderDataset, "cub200": cub200, "oxford_pets": oxford_pets,
           "food101": food101}


def open_dataset(root: str | os.PathLike, split: str, layout: Layout = "auto",
                 transform: Transform | None = None,
                 with_masks: WithMasks = "auto") -> SampleDataset:
    """Open ``root`` with the reader for ``layout`` (``"auto"``: :func:`detect_layout`).

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "test" / "dog").mkdir(parents=True)
        >>> Image.new("RGB", (4, 4)).save(root / "test" / "dog" / "x.png")
        >>> len(open_dataset(root, "test"))
        1
    """
    name = detect_layout(root) if layout == "auto" else layout
    if name not in READERS:
        raise ValueError(f"layout must be 'auto' or one of {sorted(READERS)}, got {layout!r}")
    return READERS[name](root, split, transform=transform, with_masks=with_masks)


__all__ = ["PETS_BACKGROUND", "PETS_BORDER", "PETS_FOREGROUND", "cub200", "detect_layout",
           "food101", "open_dataset", "oxford_pets", "read_table"]
