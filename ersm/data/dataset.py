"""The dataset every layout produces: a list of samples read on demand, and its collate.

A layout reader (:mod:`~ersm.data.image_folder`, :mod:`~ersm.data.layouts`) only finds
files and labels and returns a :class:`SampleDataset`; reading, mask decoding,
transforms and batching live here once.

Items are dicts::

    {"image": float32 (3, H, W) in [0, 1],
     "label": int,
     "mask":  float32 (1, H, W) in {0, 1}, or None when the sample has no mask,
     "path":  str, the image path relative to the dataset root}
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .image_io import read_image, read_label_map

Item = dict[str, Any]
Transform = Callable[[Item], Item]
MaskRule = Callable[[np.ndarray], np.ndarray]
WithMasks = bool | Literal["auto"]
SPLITS: tuple[str, ...] = ("train", "test")


class DatasetLayoutError(ValueError):
    """A dataset folder does not have the expected layout or content."""


def check_split(split: str, allowed: Sequence[str] = SPLITS) -> str:
    """Return ``split`` if it is one of ``allowed``, else raise ``ValueError``."""
    if split not in allowed:
        raise ValueError(f"split must be one of {tuple(allowed)}, got {split!r}")
    return split


def check_with_masks(with_masks: WithMasks) -> WithMasks:
    """Validate the ``with_masks`` argument (``True``, ``False`` or ``"auto"``)."""
    if with_masks not in (True, False, "auto"):
        raise ValueError(f"with_masks must be True, False or 'auto', got {with_masks!r}")
    return with_masks


def nonzero(values: np.ndarray) -> np.ndarray:
    """Mask rule: every non-zero value is object."""
    return values != 0


def above(values: np.ndarray, threshold: int) -> np.ndarray:
    """Mask rule: values strictly above ``threshold`` are object (bind with ``partial``)."""
    return values > threshold


def one_of(values: np.ndarray, accepted: Sequence[int]) -> np.ndarray:
    """Mask rule: the values in ``accepted`` are object (bind with ``partial``)."""
    return np.isin(values, np.asarray(accepted))


@dataclass(frozen=True)
class Sample:
    """One image on disk.

    Attributes:
        image: absolute or root-joined image path.
        label: class index in ``[0, num_classes)``.
        path: the path reported in items, relative to the dataset root.
        mask: path of the mask file, or ``None``.
    """

    image: Path
    label: int
    path: str
    mask: Path | None = None


def resolve_masks(candidates: Sequence[Path], with_masks: WithMasks,
                  where: str) -> list[Path | None]:
    """Decide which mask files a dataset uses.

    Args:
        candidates: the expected mask path of each sample, in order.
        with_masks: ``False`` → no masks; ``True`` → every file must exist;
            ``"auto"`` → the files that exist are used, the others are ``None``.
        where: name of the mask location for error messages.

    Returns:
        one path or ``None`` per sample.

    Raises:
        FileNotFoundError: ``with_masks=True`` and some mask files are missing (the
            first few are named).
    """
    check_with_masks(with_masks)
    if with_masks is False:
        return [None] * len(candidates)
    found = [path if path.is_file() else None for path in candidates]
    missing = [str(c) for c, f in zip(candidates, found) if f is None]
    if with_masks is True and missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise FileNotFoundError(f"with_masks=True but {len(missing)} of {len(candidates)} "
                                f"mask files are missing under {where}: {shown}")
    return found


def read_mask(path: str | os.PathLike, rule: MaskRule = nonzero) -> torch.Tensor:
    """Read a mask file and apply ``rule`` to its raw values.

    Returns:
        float32 tensor ``(1, H, W)`` with values in ``{0, 1}``.
    """
    keep = rule(read_label_map(path))
    return torch.from_numpy(np.ascontiguousarray(keep, dtype=np.float32))[None]


class SampleDataset(torch.utils.data.Dataset):
    """A map-style dataset over :class:`Sample` records.

    Args:
        root: dataset root (for ``repr`` and error messages).
        samples: the records, in a fixed order.
        classes: class names; ``samples[i].label`` indexes this list.
        transform: called on each item dict (see :mod:`~ersm.data.transforms`).
        mask_rule: maps a mask file's raw values ``(H, W)`` to bool ``(H, W)``; must be
            picklable (a module-level function or ``functools.partial``) for worker
            processes.

    Attributes:
        classes: list of class names.
        class_to_idx: ``{name: index}``.
        samples: the records.
    """

    def __init__(self, root: str | os.PathLike, samples: Sequence[Sample], classes: Sequence[str],
                 transform: Transform | None = None, mask_rule: MaskRule = nonzero) -> None:
        self.root = Path(root)
        self.samples = list(samples)
        self.classes = list(classes)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.transform = transform
        self.mask_rule = mask_rule

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> list[int]:
        """The label of every sample, in order."""
        return [s.label for s in self.samples]

    @property
    def has_masks(self) -> bool:
        """True if at least one sample has a mask file."""
        return any(s.mask is not None for s in self.samples)

    def __getitem__(self, index: int) -> Item:
        sample = self.samples[index]
        image = read_image(sample.image)
        mask = None if sample.mask is None else read_mask(sample.mask, self.mask_rule)
        if mask is not None and mask.shape[-2:] != image.shape[-2:]:
            raise DatasetLayoutError(f"mask {sample.mask} is {tuple(mask.shape[-2:])} but image "
                                     f"{sample.image} is {tuple(image.shape[-2:])} (H, W)")
        item: Item = {"image": image, "label": sample.label, "mask": mask, "path": sample.path}
        return item if self.transform is None else self.transform(item)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(root={str(self.root)!r}, samples={len(self)}, "
                f"classes={len(self.classes)}, masks={self.has_masks})")


def collate(items: Sequence[Item]) -> Item:
    """Batch item dicts, with or without masks.

    Args:
        items: dicts as returned by :class:`SampleDataset` (after transforms that give
            every image the same size).

    Returns:
        ``{"image": (B, 3, H, W), "label": int64 (B,), "path": list[str],
        "mask": (B, 1, H, W) or None, "has_mask": bool (B,)}``; ``mask`` is ``None``
        when no item has one, and items without a mask get an all-zero mask otherwise
        (check ``has_mask``).

    Raises:
        ValueError: images (or masks) differ in size, with the sizes named.

    Example:
        >>> item = {"image": torch.zeros(3, 2, 2), "label": 1, "mask": None, "path": "a.png"}
        >>> batch = collate([item, item])
        >>> batch["image"].shape, batch["mask"], batch["has_mask"].tolist()
        (torch.Size([2, 3, 2, 2]), None, [False, False])
    """
    sizes = {tuple(it["image"].shape) for it in items}
    if len(sizes) > 1:
        raise ValueError(f"cannot batch images of different sizes {sorted(sizes)}; add a "
                         f"Resize/CenterCrop transform")
    images = torch.stack([it["image"] for it in items]) if items else torch.zeros(0, 3, 0, 0)
    has_mask = torch.tensor([it.get("mask") is not None for it in items], dtype=torch.bool)
    masks = None
    if has_mask.any():
        shape = (1, *images.shape[-2:])
        masks = torch.stack([it["mask"] if it.get("mask") is not None
                             else torch.zeros(shape, dtype=images.dtype) for it in items])
    labels = torch.tensor([int(it["label"]) for it in items], dtype=torch.int64)
    return {"image": images, "label": labels, "path": [it["path"] for it in items],
            "mask": masks, "has_mask": has_mask}


__all__ = [
    "DatasetLayoutError",
    "Item",
    "Sample",
    "SampleDataset",
    "Transform",
    "above",
    "check_split",
    "check_with_masks",
    "collate",
    "nonzero",
    "one_of",
    "read_mask",
    "resolve_masks",
]
