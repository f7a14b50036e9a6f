"""The split in batches, and what evaluation keeps across them.

- :func:`open_eval_split`, :func:`iterate`: the run's eval transform, object masks, and the
  background class of each image when the dataset has an ``items.csv``;
- :class:`Means`: running per-image sums (NaN entries skipped), :class:`Keeper`: the rows
  of a few images spread over the split (mask panels, landscape energies).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from ..data.dataset import SampleDataset, collate
from ..data.image_folder import ImageFolderDataset
from ..data.layouts import detect_layout, open_dataset
from ..data.synth import read_items
from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ..runs.config import TrainConfig
from ..runs.data import eval_transform
from .settings import EvalSettings


class Means:
    """Running per-image sums: ``add(key, values (B, ...))`` skips NaN entries."""

    def __init__(self) -> None:
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, np.ndarray] = {}

    def add(self, key: str, values: torch.Tensor) -> None:
        v = values.detach().double().cpu().numpy()
        ok = ~np.isnan(v)
        self.sums[key] = self.sums.get(key, 0) + np.where(ok, v, 0).sum(0)
        self.counts[key] = self.counts.get(key, 0) + ok.sum(0)

    def mean(self, key: str) -> np.ndarray | None:
        """The mean over images (None if the key was never added or has no finite value)."""
        if key not in self.sums or not np.all(self.counts[key] > 0):
            return None
        return self.sums[key] / self.counts[key]

    def scalar(self, key: str) -> float | None:
        value = self.mean(key)
        return None if value is None else float(value)


@dataclass
class Batch:
    """A batch of the split.

    Attributes:
        images: ``(B, 3, S, S)`` normalised; labels: ``(B,)``; index: ``(B,)`` positions in
        the split; objects: ``(B, S, S)`` bool or None; has_mask: ``(B,)`` bool;
        background: ``(B,)`` int64 background-tint class (``-1`` unknown) or None.
    """

    images: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    objects: torch.Tensor | None
    has_mask: torch.Tensor
    background: torch.Tensor | None


# ---------------------------------------------------------------- data


def open_eval_split(data: str | os.PathLike, split: str, config: TrainConfig) -> SampleDataset:
    """The split with the run's eval transform and its object masks when present."""
    transform = eval_transform(config.image_size)
    layout = detect_layout(data) if config.layout == "auto" else config.layout
    if layout == "folder":
        return ImageFolderDataset(data, split, transform, with_masks="auto",
                                  classes=config.classes)
    return open_dataset(data, split, layout, transform=transform, with_masks="auto")


def background_lookup(data: str | os.PathLike) -> dict[str, int] | None:
    """``{image path: background-tint class}`` from a synthetic set's ``items.csv``, or None."""
    if not (Path(data) / "items.csv").is_file():
        return None
    return {row["path"]: row["background"] for row in read_items(data)}


def chosen_images(total: int, limit: int | None) -> list[int]:
    """The dataset positions evaluated: all, or ``limit`` spread evenly over the split (so a
    class-sorted split keeps every class).

    Example:
        >>> chosen_images(10, 4), chosen_images(3, None)
        ([0, 3, 6, 9], [0, 1, 2])
    """
    if limit is None or limit >= total:
        return list(range(total))
    return np.linspace(0, total - 1, limit).round().astype(np.int64).tolist()


def iterate(dataset: SampleDataset, settings: EvalSettings, lookup: dict[str, int] | None,
            progress: bool = True, desc: str = "evaluate") -> Iterator[Batch]:
    """Batches of the images :func:`chosen_images` picks, in dataset order; ``Batch.index``
    counts positions among the chosen images."""
    chosen = chosen_images(len(dataset), settings.limit)
    loader = DataLoader(Subset(dataset, chosen), batch_size=settings.batch_size,
                        shuffle=False, collate_fn=collate)
    device, start = torch.device(settings.device), 0
    for batch in tqdm(loader, desc=desc, leave=False, disable=not progress):
        n = len(batch["label"])
        objects = None if batch["mask"] is None else batch["mask"][:, 0].to(device) > 0.5
        background = None if lookup is None else torch.tensor(
            [lookup.get(path, -1) for path in batch["path"]], dtype=torch.int64, device=device)
        yield Batch(batch["image"].to(device), batch["label"].to(device),
                    torch.arange(start, start + n), objects, batch["has_mask"].to(device),
                    background)
        start += n


def split_size(dataset: SampleDataset, settings: EvalSettings) -> int:
    """Number of images evaluated."""
    return len(chosen_images(len(dataset), settings.limit))


def nan_where(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``values`` (float64) with NaN where ``keep`` is False (left out of means)."""
    values = values.double()
    return torch.where(keep, values, torch.full_like(values, float("nan")))


class Keeper:
    """Keeps the rows of ``count`` images spread evenly over a split of ``total`` images
    (so the panels show several classes of a class-sorted split), across batches."""

    def __init__(self, count: int, total: int) -> None:
        wanted = np.unique(np.linspace(0, total - 1, count).round().astype(np.int64))
        self.wanted = torch.from_numpy(wanted if count > 0 and total > 0 else wanted[:0])
        self.arrays: dict[str, list[torch.Tensor]] = {}

    def add(self, index: torch.Tensor, **arrays: torch.Tensor | None) -> None:
        """Keep the rows of ``arrays`` ``(B, ...)`` whose split position ``index`` ``(B,)``
        is wanted; None arrays are skipped."""
        rows = torch.isin(index, self.wanted)
        if not rows.any():
            return
        for key, value in arrays.items():
            if value is not None:
                self.arrays.setdefault(key, []).append(value[rows.to(value.device)].detach().cpu())

    def numpy(self) -> dict[str, np.ndarray]:
        return {key: torch.cat(parts).numpy() for key, parts in self.arrays.items()}


def display_images(images: torch.Tensor) -> torch.Tensor:
    """Undo the ImageNet normalisation: ``(B, 3, S, S)`` → ``(B, S, S, 3)`` in ``[0, 1]``."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images * std + mean).clamp(0, 1).permute(0, 2, 3, 1)


__all__ = ["Batch", "Keeper", "Means", "background_lookup", "chosen_images", "display_images",
           "iterate", "nan_where", "open_eval_split", "split_size"]
