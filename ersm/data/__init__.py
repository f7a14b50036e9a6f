"""Datasets for the neural front ends: folders, public layouts, synthetic data, transforms.

Every dataset yields item dicts ``{"image": (3, H, W) float in [0, 1], "label": int,
"mask": (1, H, W) float or None, "path": str}``; :func:`collate` batches them.

- :class:`ImageFolderDataset`: ``DIR/{train,test}/<class>/<image>`` (+ ``DIR/masks/...``).
- :func:`cub200`, :func:`oxford_pets`, :func:`food101`, :func:`open_dataset`: public layouts.
- :func:`make_synthetic_dataset`, :func:`make_digits_in_clutter`: seeded generators with
  exact masks and a spurious background cue.
- :mod:`~ersm.data.transforms`: joint image/mask transforms in plain torch.
"""

from .dataset import DatasetLayoutError, Sample, SampleDataset, collate, read_mask
from .image_folder import ImageFolderDataset
from .image_io import ImageReadError, read_image, read_label_map
from .layouts import cub200, detect_layout, food101, open_dataset, oxford_pets
from .synth import make_digits_in_clutter, make_synthetic_dataset, read_items
from .transforms import (
    CenterCrop,
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
)

__all__ = [
    "CenterCrop",
    "Compose",
    "DatasetLayoutError",
    "ImageFolderDataset",
    "ImageReadError",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "Resize",
    "Sample",
    "SampleDataset",
    "collate",
    "cub200",
    "detect_layout",
    "food101",
    "make_digits_in_clutter",
    "make_synthetic_dataset",
    "open_dataset",
    "oxford_pets",
    "read_image",
    "read_items",
    "read_label_map",
    "read_mask",
]
