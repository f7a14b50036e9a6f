"""Mask files: the result of solving one energy file, ``OUT/<input stem>.npz``.

Each holds three arrays, read back with ``allow_pickle=False``:

===========  ============================================================
key          value
===========  ============================================================
mask         bool, ``(B, H, W)`` or ``(H, W)``, the input's batched shape
labels       int64, like ``mask``, instead of it for multi-label energies
energy       float64, ``(B,)`` or ``()``: energy of ``mask`` (constant included)
backend      str, the backend that produced it
options      str, JSON of the backend options it was given (``{}`` if none)
q            float64, like ``mask`` (``(B, L, H, W)`` for labels): relaxed marginals
             (relaxed backends only)
free_energy  float64, like ``energy`` (mean-field backends only)
===========  ============================================================

Files are written atomically (:mod:`ersm.io.atomic`), so a file that exists and reads
back well-formed is complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..solvers.result import PottsResult, SolveResult
from ._host import host_array
from .atomic import atomic_write
from .npz import read_npz

KEYS: tuple[str, ...] = ("energy", "backend")
"""Keys every mask file holds, besides ``mask`` (binary) or ``labels`` (multi-label)."""


@dataclass(frozen=True)
class MaskFile:
    """The content of a mask file.

    Attributes:
        mask: ``(B, H, W)`` or ``(H, W)`` bool NumPy array (None in a labels file).
        energy: ``(B,)`` or ``()`` float64 NumPy array.
        backend: name of the backend that solved it.
        options: the backend options it was solved with.
        q: relaxed marginals like ``mask`` (float64), or None.
        free_energy: like ``energy`` (float64), or None.
        labels: ``(B, H, W)`` or ``(H, W)`` int64 labels of a multi-label energy, or None.
    """

    mask: np.ndarray | None
    energy: np.ndarray
    backend: str
    options: dict = field(default_factory=dict)
    q: np.ndarray | None = None
    free_energy: np.ndarray | None = None
    labels: np.ndarray | None = None


class MaskFileError(ValueError):
    """A mask file is unreadable or malformed (e.g. truncated by a killed writer)."""


def mask_path(out_dir: str | os.PathLike, input_path: str | os.PathLike) -> Path:
    """Where the mask of ``input_path`` goes: ``out_dir / f"{stem}.npz"``."""
    return Path(out_dir) / f"{Path(input_path).stem}.npz"


def save_mask(path: str | os.PathLike, result: SolveResult | PottsResult, durable: bool = True,
              options: dict | None = None) -> Path:
    """Write ``result`` (mask or labels, energy, backend) to ``path`` atomically.

    Args:
        path: destination ``.npz``.
        result: from :func:`ersm.solve`; NumPy or torch arrays (stored as NumPy); a
            :class:`PottsResult` stores ``labels`` (int64) instead of ``mask``.
        durable: fsync it (see :func:`~ersm.io.atomic.atomic_write`); batch jobs pass
            False and sync once at the end.
        options: the backend options ``result`` was solved with (JSON values).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    first = ({"labels": host_array(result.labels, np.int64)} if isinstance(result, PottsResult)
             else {"mask": host_array(result.mask, bool)})
    arrays = {**first,
              "energy": host_array(result.energy, np.float64),
              "backend": np.asarray(result.backend),
              "options": np.asarray(json.dumps(options or {}, sort_keys=True))}
    if result.q is not None:
        arrays["q"] = host_array(result.q, np.float64)
    if result.info.get("free_energy") is not None:
        arrays["free_energy"] = host_array(result.info["free_energy"], np.float64)
    return atomic_write(path, lambda f: np.savez(f, **arrays), durable=durable)


def _check(content: MaskFile, path: Path) -> MaskFile:
    mask, energy = content.mask, content.energy
    if mask is None:
        mask = content.labels
        if mask.dtype != np.int64 or mask.ndim not in (2, 3):
            raise MaskFileError(f"{path}: 'labels' must be an int64 (B, H, W) or (H, W) "
                                f"array, got {mask.dtype} {mask.shape}")
    elif mask.dtype != np.bool_ or mask.ndim not in (2, 3):
        raise MaskFileError(f"{path}: 'mask' must be a bool (B, H, W) or (H, W) array, "
                            f"got {mask.dtype} {mask.shape}")
    if energy.dtype != np.float64 or energy.shape != mask.shape[:-2]:
        raise MaskFileError(f"{path}: 'energy' must be float64 of shape {mask.shape[:-2]}, "
                            f"got {energy.dtype} {energy.shape}")
    return content


def load_mask(path: str | os.PathLike) -> MaskFile:
    """Read and check a mask file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        MaskFileError: (a ``ValueError``) unreadable, truncated or malformed file.
    """
    path = Path(path)
    data = read_npz(path, "mask file", KEYS, MaskFileError)
    try:
        options = json.loads(str(data["options"])) if "options" in data else {}
    except ValueError as exc:
        raise MaskFileError(f"{path}: not a readable mask file ({type(exc).__name__}: {exc})") from exc
    if "mask" not in data and "labels" not in data:
        raise MaskFileError(f"{path}: not a readable mask file (missing entry 'mask' or "
                            f"'labels'; found: {', '.join(sorted(data))})")
    content = MaskFile(data.get("mask"), data["energy"], str(data["backend"]), options,
                       data.get("q"), data.get("free_energy"), data.get("labels"))
    return _check(content, path)


def is_valid_mask_file(path: str | os.PathLike, backend: str | None = None,
                       options: dict | None = None) -> bool:
    """True if ``path`` exists, reads back well-formed and (if given) came from ``backend``
    with ``options``."""
    try:
        content = load_mask(path)
    except (OSError, ValueError):
        return False
    if options is not None and content.options != json.loads(json.dumps(options)):
        return False
    return backend is None or content.backend == backend


__all__ = ["KEYS", "MaskFile", "MaskFileError", "is_valid_mask_file", "load_mask", "mask_path",
           "save_mask"]
