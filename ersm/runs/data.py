"""Datasets and loaders for training: fixed-size images, reproducible shuffles and flips.

Everything random is a function of ``(seed, epoch, index)``, never of a generator's
running state, so a run resumed after epoch ``e`` draws exactly what an uninterrupted run
draws in epoch ``e + 1`` (same order, same flips), for any number of worker processes.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..data.dataset import Item, SampleDataset, collate
from ..data.image_folder import ImageFolderDataset
from ..data.layouts import detect_layout, open_dataset
from ..data.transforms import CenterCrop, Compose, Normalize, Resize, apply_joint, hflip
from .distributed import Distributed, shard_indices


def eval_transform(image_size: int) -> Compose:
    """Resize the shorter side to ``image_size``, centre-crop a square, ImageNet-normalise."""
    return Compose([Resize(image_size), CenterCrop(image_size), Normalize()])


def open_split(root: str | os.PathLike, split: str, image_size: int, layout: str = "auto",
               classes: Sequence[str] | None = None) -> SampleDataset:
    """One split of a dataset with :func:`eval_transform` (masks are not read).

    Args:
        classes: for image folders, the class list fixing the labels (e.g. the train
            split's, so a class folder missing from the test split cannot shift them);
            the other layouts list their classes in their index files.
    """
    transform = eval_transform(image_size)
    if classes is not None and (layout if layout != "auto" else detect_layout(root)) == "folder":
        return ImageFolderDataset(root, split, transform, with_masks=False, classes=classes)
    return open_dataset(root, split, layout, transform=transform, with_masks=False)


def derived_seed(*keys: int) -> int:
    """A 63-bit seed determined by non-negative ``keys``, e.g. ``(seed, epoch, index)``."""
    state = np.random.SeedSequence(list(keys)).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


class EpochFlips(Dataset):
    """Wrap a dataset: mirror image ``i`` in epoch ``e`` when a ``(seed, e, i)`` coin says so.

    Args:
        dataset: map-style dataset of item dicts.
        seed: run seed.
        p: flip probability.

    Call :meth:`set_epoch` before iterating each epoch.
    """

    def __init__(self, dataset: Dataset, seed: int, p: float = 0.5) -> None:
        self.dataset, self.seed, self.p, self.epoch = dataset, seed, p, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Item:
        item = self.dataset[index]
        coin = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch, index))
        if float(torch.rand((), generator=coin)) < self.p:
            return apply_joint(item, hflip)
        return item


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed NumPy and ``random`` from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(dataset: Dataset, batch_size: int, info: Distributed, seed: int, epoch: int,
                shuffle: bool, num_workers: int = 0) -> DataLoader:
    """A loader over this process's share of ``dataset`` for one epoch.

    Shuffled: :class:`~torch.utils.data.DistributedSampler` (seed ``seed``, ``set_epoch``;
    pads to a multiple of the world size). Not shuffled: every ``world_size``-th item from
    ``rank``, no padding (so summed evaluation counts are exact).
    """
    if isinstance(dataset, EpochFlips):
        dataset.set_epoch(epoch)
    if shuffle:
        sampler = DistributedSampler(dataset, info.world_size, info.rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
    else:
        sampler = shard_indices(len(dataset), info)
    generator = torch.Generator().manual_seed(derived_seed(seed, epoch))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      collate_fn=collate, generator=generator, worker_init_fn=seed_worker,
                      pin_memory=info.device.type == "cuda")


__all__ = ["EpochFlips", "derived_seed", "eval_transform", "make_loader", "open_split",
           "seed_worker"]
