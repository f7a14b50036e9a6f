"""Energy files: a :class:`~ersm.GridEnergy` or a multi-label :class:`~ersm.PottsEnergy`
stored as ``.npz`` (NumPy) or ``.pt`` (torch).

Both formats hold the same named entries:

============  ==================================================  ========
key           value                                               required
============  ==================================================  ========
unary         ``(B, H, W)`` or ``(H, W)`` real array (binary);    yes
              ``(B, L, H, W)`` or ``(L, H, W)`` (multi-label)
pairwise      ``(B, K, H, W)`` or ``(K, H, W)``                   yes
connectivity  4 or 8 (inferred from ``K`` when absent)            no
constant      scalar or ``(B,)`` (binary energies only)           no
============  ==================================================  ========

A unary with as many axes as the pairwise weights has a label axis: the file is a
multi-label Potts energy (``ersm solve`` writes ``labels`` for it).

``.npz`` files are read with ``allow_pickle=False``; ``.pt`` files are a
``torch.save``-d dict read with ``weights_only=True`` (tensors come back as tensors, so
``ersm.solve`` returns tensors for them). Neither format ever unpickles code.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..core.arrays import is_torch
from ..energy.grid import GridEnergy
from ..energy.potts import PottsEnergy
from ._host import host_array
from .atomic import atomic_save_npz, atomic_write
from .npz import read_npz

SUFFIXES: tuple[str, ...] = (".npz", ".pt")
"""File suffixes :func:`load_energy` understands."""

REQUIRED_KEYS: tuple[str, ...] = ("unary", "pairwise")
OPTIONAL_KEYS: tuple[str, ...] = ("connectivity", "constant")


class EnergyFileError(ValueError):
    """An energy file is unreadable, lacks an entry, or holds arrays of the wrong shape."""


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise EnergyFileError(
            f"{path}: unsupported energy file type {path.suffix!r}; expected one of {list(SUFFIXES)}"
        )
    return suffix


def _read_npz(path: Path) -> dict[str, Any]:
    if not zipfile.is_zipfile(path):
        raise EnergyFileError(f"{path}: not a .npz file (no zip archive: truncated or another format)")
    return read_npz(path, ".npz file", error=EnergyFileError)


def _read_pt(path: Path) -> dict[str, Any]:
    import pickle

    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise EnergyFileError(f"{path}: not a readable .pt file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, Mapping):
        raise EnergyFileError(
            f"{path}: a .pt energy file must hold a dict with keys {list(REQUIRED_KEYS)}, "
            f"got {type(data).__name__}"
        )
    return dict(data)


def _connectivity(value: Any, path: Path) -> int | None:
    if value is None:
        return None
    arr = host_array(value)
    if arr.size != 1 or arr.dtype.kind not in "iuf" or float(arr.reshape(())) not in (4.0, 8.0):
        raise EnergyFileError(f"{path}: 'connectivity' must be the scalar 4 or 8, got {arr.tolist()!r}")
    return int(arr.reshape(()))


def is_multilabel(data: Mapping[str, Any]) -> bool:
    """The entries describe a multi-label energy: ``unary`` has as many axes as
    ``pairwise`` (``(B, L, H, W)`` with ``(B, K, H, W)``, or ``(L, H, W)`` with
    ``(K, H, W)``)."""
    unary, pairwise = data["unary"], data["pairwise"]
    return (hasattr(unary, "ndim") and hasattr(pairwise, "ndim")
            and unary.ndim == pairwise.ndim and unary.ndim in (3, 4))


def energy_from_mapping(data: Mapping[str, Any],
                        path: str | os.PathLike = "<mapping>") -> GridEnergy | PottsEnergy:
    """Build a :class:`GridEnergy` (or a :class:`PottsEnergy`, when ``unary`` has a label
    axis, see :func:`is_multilabel`) from the entries of an energy file.

    Args:
        data: ``unary``, ``pairwise`` and optionally ``connectivity``, ``constant``.
        path: file name used in error messages.

    Raises:
        EnergyFileError: an entry is missing or the arrays are invalid; the message names
            ``path`` and the problem.
    """
    path = Path(path)
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        found = ", ".join(sorted(data)) or "nothing"
        raise EnergyFileError(f"{path}: missing entry {missing[0]!r} (found: {found})")
    constant = data.get("constant", 0.0)
    connectivity = _connectivity(data.get("connectivity"), path)
    try:
        if is_multilabel(data):
            if np.any(host_array(constant) != 0):
                raise EnergyFileError(f"{path}: 'constant' is for binary energies only; a "
                                      "multi-label energy adds it to every label of one token")
            return PottsEnergy(data["unary"], data["pairwise"], connectivity)
        return GridEnergy(data["unary"], data["pairwise"], connectivity, constant)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, EnergyFileError):
            raise
        raise EnergyFileError(f"{path}: {exc}") from exc


def load_energy(path: str | os.PathLike) -> GridEnergy | PottsEnergy:
    """Read an energy file (``.npz`` or ``.pt``, see the module docstring).

    Args:
        path: the file.

    Returns:
        The energy, batched or unbatched as stored; NumPy arrays for ``.npz``, CPU torch
        tensors for ``.pt``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        EnergyFileError: (a ``ValueError``) unsupported suffix, unreadable file, missing
            entry or bad shape; the message starts with the file name.

    Example:
        >>> import tempfile, numpy as np, ersm
        >>> f = Path(tempfile.mkdtemp()) / "e.npz"
        >>> _ = save_energy(f, ersm.GridEnergy(np.zeros((2, 3)), np.ones((2, 2, 3))))
        >>> load_energy(f)
        GridEnergy(B=1, H=2, W=3, connectivity=4, kind=numpy, batched=False)
    """
    path = Path(path)
    reader = _read_npz if _suffix(path) == ".npz" else _read_pt
    if not path.is_file():
        if path.is_symlink() and not path.exists():
            raise FileNotFoundError(f"{path}: broken symbolic link (its target "
                                    f"{os.readlink(path)} does not exist)")
        raise FileNotFoundError(f"{path}: no such energy file")
    return energy_from_mapping(reader(path), path)


def energy_to_mapping(energy: GridEnergy | PottsEnergy) -> dict[str, Any]:
    """The entries :func:`save_energy` stores: arrays in their own type and dtype.

    Unbatched energies are stored unbatched (``(H, W)`` / ``(K, H, W)``); a
    :class:`PottsEnergy` has no ``constant`` entry.
    """
    unary, pairwise = energy.unary, energy.pairwise
    if not energy.batched:
        unary, pairwise = unary[0], pairwise[0]
    entries = {"unary": unary, "pairwise": pairwise, "connectivity": int(energy.connectivity)}
    if isinstance(energy, GridEnergy):
        entries["constant"] = energy.constant
    return entries


def _as_tensor(value: Any) -> Any:
    """Tensors stay tensors, ints stay ints, NumPy arrays become CPU tensors."""
    if is_torch(value) or isinstance(value, int):
        return value
    import torch

    return torch.tensor(host_array(value))


def save_energy(path: str | os.PathLike, energy: GridEnergy | PottsEnergy) -> Path:
    """Write ``energy`` to ``path`` atomically; the format follows the suffix.

    Args:
        path: destination ending in ``.npz`` or ``.pt``.
        energy: NumPy or torch energy; ``.npz`` stores NumPy arrays, ``.pt`` tensors,
            with dtypes unchanged.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    entries = energy_to_mapping(energy)
    if _suffix(path) == ".npz":
        arrays = {key: host_array(value) for key, value in entries.items()}
        return atomic_save_npz(path, **arrays)
    import torch

    tensors = {key: _as_tensor(value) for key, value in entries.items()}
    return atomic_write(path, lambda f: torch.save(tensors, f))


__all__ = ["EnergyFileError", "SUFFIXES", "energy_from_mapping", "energy_to_mapping",
           "is_multilabel", "load_energy", "save_energy"]
