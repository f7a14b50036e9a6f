"""``path_files``: the keep-cost path of a batch of energy files, one threshold file each.

Functional core of ``ersm path``. Threshold files are ``OUT/<input stem>.npz`` with

===========  ==============================================================
key          value
===========  ==============================================================
thresholds   float64 ``(B, H, W)`` or ``(H, W)``: ``thresholds >= λ`` is the
             canonical minimiser of ``E + λ·Σ m`` (see :func:`ersm.solve_path`)
lam_min      float64 ``()``: lower end of the range solved
lam_max      float64 ``()``: upper end
kind         str ``"path"``
===========  ==============================================================

Written atomically; resumable like ``ersm solve`` (a valid output for the same range, not
older than its input, is skipped); per-file errors are reported, never raised. The task
loop, executors and Dask support are those of :mod:`ersm.jobs.solve_files`.
"""

from __future__ import annotations

import math
import os
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..core.arrays import to_numpy
from ..io.atomic import atomic_save_npz
from ..energy.grid import GridEnergy
from ..io.energy_files import EnergyFileError, load_energy
from ..io.mask_files import mask_path
from ..io.npz import read_npz
from ..solvers.path import PathResult, solve_path
from ..solvers.path.api import check_lam_range
from .solve_files import SolveReport, prepare_outputs, run_file_tasks
from .task import FAILED, SKIPPED, SOLVED, FileOutcome, describe_error

KIND = "path"
KEYS = ("thresholds", "lam_min", "lam_max", "kind")


def save_thresholds(path: str | os.PathLike, result: PathResult) -> Path:
    """Write ``result``'s thresholds and range to ``path`` atomically."""
    return atomic_save_npz(path, thresholds=to_numpy(result.thresholds, np.float64),
                           lam_min=np.float64(result.lam_min), lam_max=np.float64(result.lam_max),
                           kind=np.asarray(KIND))


def load_thresholds(path: str | os.PathLike) -> dict[str, Any]:
    """Read a threshold file: ``{"thresholds", "lam_min", "lam_max"}``.

    Raises:
        FileNotFoundError: missing file.
        ValueError: unreadable, truncated or malformed file.
    """
    path = Path(path)
    data = read_npz(path, "threshold file", KEYS)
    out = {"thresholds": data["thresholds"], "lam_min": float(data["lam_min"]),
           "lam_max": float(data["lam_max"]), "kind": str(data["kind"])}
    t = out.pop("kind")
    if t != KIND or out["thresholds"].dtype != np.float64 or out["thresholds"].ndim not in (2, 3):
        raise ValueError(f"{path}: not a threshold file (kind {t!r}, thresholds "
                         f"{out['thresholds'].dtype} {out['thresholds'].shape})")
    return out


def _is_done(input_path: Path, output: Path, lam_min: float, lam_max: float) -> bool:
    try:
        content = load_thresholds(output)
        fresh = output.stat().st_mtime_ns >= input_path.stat().st_mtime_ns
    except (OSError, ValueError):
        return False
    return fresh and content["lam_min"] == lam_min and content["lam_max"] == lam_max


def path_file(input_path: str | os.PathLike, out_dir: str | os.PathLike,
              lam_min: float = -math.inf, lam_max: float = math.inf,
              overwrite: bool = False) -> FileOutcome:
    """Solve the path of one energy file into ``out_dir / f"{stem}.npz"``.

    Returns:
        A :class:`~ersm.jobs.task.FileOutcome`; errors come back as ``"failed"``.
    """
    start = time.perf_counter()
    input_path, output = Path(input_path), mask_path(out_dir, input_path)
    if not overwrite and _is_done(input_path, output, lam_min, lam_max):
        return FileOutcome(input_path, output, SKIPPED, seconds=time.perf_counter() - start)
    try:
        save_thresholds(output, solve_path(_binary_energy(input_path), lam_min, lam_max))
    except Exception as exc:  # reported per file; the batch goes on
        return FileOutcome(input_path, output, FAILED, describe_error(exc),
                           time.perf_counter() - start)
    return FileOutcome(input_path, output, SOLVED, seconds=time.perf_counter() - start)


def _binary_energy(input_path: Path) -> GridEnergy:
    """The binary energy of a file; a multi-label (Potts) one is refused by name."""
    energy = load_energy(input_path)
    if not isinstance(energy, GridEnergy):
        raise EnergyFileError(f"{input_path}: a multi-label (Potts) energy (unary (B, L, H, "
                              "W)); keep-cost paths need a binary energy (unary (B, H, W))")
    return energy


def path_files(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
               lam_min: float = -math.inf, lam_max: float = math.inf, workers: int = 1,
               scheduler: Any = None, progress: bool = True, overwrite: bool = False,
               on_error: Callable[[Path, str], None] | None = None) -> SolveReport:
    """Keep-cost paths of every energy file in ``inputs`` into ``out_dir/<stem>.npz``.

    Args:
        inputs: energy files (``.npz``/``.pt``) and directories of them.
        out_dir: output directory (created if needed).
        lam_min, lam_max: the λ range (see :func:`ersm.solve_path`).
        workers, scheduler, progress, overwrite, on_error: as for
            :func:`ersm.jobs.solve_files`.

    Returns:
        :class:`~ersm.jobs.solve_files.SolveReport`; per-file failures recorded, not raised.

    Raises:
        ValueError: bad range, ``workers < 1``, or an output overwriting its input (inputs
            sharing an output are reported per file, as in :func:`~ersm.jobs.solve_files`).
    """
    start = time.perf_counter()
    lam_min, lam_max = check_lam_range(lam_min, lam_max)
    files, clashing = prepare_outputs(inputs, out_dir)
    task = partial(path_file, out_dir=Path(out_dir), lam_min=lam_min, lam_max=lam_max,
                   overwrite=overwrite)
    return run_file_tasks(task, files, Path(out_dir), "ersm path", workers=workers,
                          scheduler=scheduler, progress=progress, on_error=on_error, start=start,
                          failed=clashing)


__all__ = ["load_thresholds", "path_file", "path_files", "save_thresholds"]
