"""The image-folder layout: one folder per class, optional mask tree beside it.

::

    DIR/train/<class>/<name>.png|jpg|...
    DIR/test/<class>/<name>.png|jpg|...
    DIR/masks/train/<class>/<stem>.png      (optional; non-zero = object)
    DIR/masks/test/<class>/<stem>.png

Classes are the sorted names of the class folders of the split.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .dataset import (
    DatasetLayoutError,
    Sample,
    SampleDataset,
    Transform,
    WithMasks,
    check_split,
    check_with_masks,
    resolve_masks,
)

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_SUFFIXES)


def scan_image_folder(root: str | os.PathLike, split: str, classes: Sequence[str] | None = None
                      ) -> tuple[list[str], list[tuple[Path, int]]]:
    """List the classes and images of one split.

    Args:
        root: the dataset directory ``DIR``.
        split: ``"train"`` or ``"test"``.
        classes: fix the class list (and so the labels), e.g. to the train split's; class
            folders not in it are an error, listed classes without a folder have no images.

    Returns:
        ``(classes, [(image_path, label), ...])``: classes as given or the sorted folder
        names; images sorted by class, then file name.

    Raises:
        FileNotFoundError: ``DIR/<split>`` does not exist.
        DatasetLayoutError: no class folders, folders not in ``classes``, or no images at all.
    """
    split_dir = Path(root) / check_split(split)
    if not split_dir.is_dir():
        raise FileNotFoundError(f"split folder not found: {split_dir} (expected "
                                f"{Path(root)}/{{train,test}}/<class>/<image>)")
    found = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = sorted(set(found) - set(classes)) if classes is not None else []
    if unknown:
        raise DatasetLayoutError(f"class folders {unknown} in {split_dir} are not in the given "
                                 f"classes {list(classes)}")
    classes = found if classes is None else list(classes)
    if not classes:
        raise DatasetLayoutError(f"no class folders in {split_dir} "
                                 f"(expected {split_dir}/<class>/<image>)")
    files = [(path, label) for label, name in enumerate(classes) if (split_dir / name).is_dir()
             for path in _image_files(split_dir / name)]
    if not files:
        raise DatasetLayoutError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in the "
                                 f"class folders of {split_dir}")
    return classes, files


class ImageFolderDataset(SampleDataset):
    """Images in ``DIR/<split>/<class>/`` with optional masks in ``DIR/masks/<split>/<class>/``.

    Args:
        root: the dataset directory ``DIR``.
        split: ``"train"`` or ``"test"``.
        transform: called on each item dict (see :mod:`~ersm.data.transforms`).
        with_masks: ``"auto"`` uses the mask files that exist, ``True`` requires one
            per image, ``False`` ignores them. A mask is ``<stem>.png`` in the mirrored
            folder; its non-zero pixels are object.
        classes: a fixed class list (e.g. ``train.classes`` when opening ``test``, so a
            class missing from one split cannot shift the labels); default: the sorted
            class folder names of this split.

    Items are ``{"image": (3, H, W) float in [0, 1], "label": int, "mask": (1, H, W)
    float or None, "path": "<split>/<class>/<file>"}``.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "train" / "cat").mkdir(parents=True)
        >>> Image.new("RGB", (8, 6)).save(root / "train" / "cat" / "a.png")
        >>> ds = ImageFolderDataset(root, "train")
        >>> ds.classes, ds[0]["image"].shape, ds[0]["mask"]
        (['cat'], torch.Size([3, 6, 8]), None)
    """

    def __init__(self, root: str | os.PathLike, split: str, transform: Transform | None = None,
                 with_masks: WithMasks = "auto", classes: Sequence[str] | None = None) -> None:
        check_with_masks(with_masks)
        root = Path(root)
        classes, files = scan_image_folder(root, split, classes)
        mask_dir = root / "masks" / split
        if with_masks == "auto" and not mask_dir.is_dir():
            with_masks = False
        masks = resolve_masks([mask_dir / p.parent.name / f"{p.stem}.png" for p, _ in files],
                              with_masks, where=str(mask_dir))
        samples = [Sample(image=p, label=label, path=p.relative_to(root).as_posix(), mask=m)
                   for (p, label), m in zip(files, masks)]
        super().__init__(root, samples, classes, transform)
        self.split = split


__all__ = ["IMAGE_SUFFIXES", "ImageFolderDataset", "scan_image_folder"]
