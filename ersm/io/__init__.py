"""Reading and writing energies and masks; atomic writes.

- :mod:`~ersm.io.energy_files`: ``.npz`` / ``.pt`` energy files (:func:`load_energy`,
  :func:`save_energy`).
- :mod:`~ersm.io.mask_files`: one mask file per solved input (:func:`save_mask`,
  :func:`load_mask`).
- :mod:`~ersm.io.atomic`: write-to-temp-then-rename (:func:`atomic_write`), cleaning what a
  killed writer left (:func:`clean_temporaries`), output directories (:func:`ensure_directory`).
"""

from .atomic import (atomic_save_npz, atomic_write, atomic_write_text, clean_temporaries,
                     ensure_directory)
from .energy_files import EnergyFileError, load_energy, save_energy
from .mask_files import MaskFile, MaskFileError, is_valid_mask_file, load_mask, mask_path, save_mask

__all__ = [
    "EnergyFileError",
    "MaskFile",
    "MaskFileError",
    "atomic_save_npz",
    "atomic_write",
    "atomic_write_text",
    "clean_temporaries",
    "ensure_directory",
    "is_valid_mask_file",
    "load_energy",
    "load_mask",
    "mask_path",
    "save_energy",
    "save_mask",
]
