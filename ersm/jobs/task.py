"""One unit of batch work: "solve energy file X into directory OUT" (idempotent).

The task is a plain module-level function of picklable arguments, so the same call
runs in-process, in a process pool or on a Dask worker. It writes its own output
atomically and skips inputs already done, so a killed batch resumes where it stopped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..io.energy_files import load_energy
from ..io.mask_files import is_valid_mask_file, mask_path, save_mask
from ..solvers.api import solve
from ..solvers.defaults import DEFAULT_EXACT, DEFAULT_POTTS

SOLVED, SKIPPED, FAILED = "solved", "skipped", "failed"


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input.

    Attributes:
        input: the energy file.
        output: its mask file.
        status: ``"solved"``, ``"skipped"`` (a valid output existed) or ``"failed"``.
        message: the error for ``"failed"``, else ``""``.
        seconds: wall time spent on the file.
    """

    input: Path
    output: Path
    status: str
    message: str = ""
    seconds: float = 0.0


def describe_error(exc: BaseException) -> str:
    """One-line ``"TypeName: message"`` for reports."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def is_done(input_path: Path, output: Path, backend: str | None,
            options: Mapping[str, Any] | None = None) -> bool:
    """``output`` is a valid mask file from ``backend`` (None: from a default backend,
    ``graphcut`` or ``expansion``) with ``options`` and not older than the input."""
    names = (DEFAULT_EXACT, DEFAULT_POTTS) if backend is None else (backend,)
    if not any(is_valid_mask_file(output, backend=name, options=options) for name in names):
        return False
    try:
        return output.stat().st_mtime_ns >= input_path.stat().st_mtime_ns
    except OSError:
        return False


def solve_file(input_path: str | os.PathLike, out_dir: str | os.PathLike,
               backend: str | None = None, overwrite: bool = False,
               options: Mapping[str, Any] | None = None) -> FileOutcome:
    """Solve one energy file into ``out_dir / f"{stem}.npz"`` (see :mod:`ersm.io.mask_files`).

    Args:
        input_path: ``.npz`` or ``.pt`` energy file.
        out_dir: existing output directory.
        backend: solver backend name (None: the default for the file's energy kind).
        overwrite: solve even if a valid, up-to-date output exists.
        options: backend options (recorded in the output).

    Returns:
        A :class:`FileOutcome`; errors are returned as ``status="failed"``, never raised,
        so one bad file does not stop a batch.
    """
    start = time.perf_counter()
    input_path, output = Path(input_path), mask_path(out_dir, input_path)
    options = dict(options or {})
    if not overwrite and is_done(input_path, output, backend, options):
        return FileOutcome(input_path, output, SKIPPED, seconds=time.perf_counter() - start)
    try:
        # not fsynced one by one: the batch syncs once at its end (run_file_tasks), and
        # a file torn by a power loss fails validation and is solved again on resume
        save_mask(output, solve(load_energy(input_path), backend=backend, **options),
                  durable=False, options=options)
    except Exception as exc:  # reported per file; the batch goes on
        return FileOutcome(input_path, output, FAILED, describe_error(exc),
                           time.perf_counter() - start)
    return FileOutcome(input_path, output, SOLVED, seconds=time.perf_counter() - start)
