"""``solve_files``: solve a batch of energy files into one mask file each.

Functional core of ``ersm solve``. Resumable: each task writes its output atomically
and skips inputs whose output is already valid, so re-running a killed batch redoes
only what is missing (or was left corrupt).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tqdm.auto import tqdm

from ..io.atomic import clean_temporaries, ensure_directory, sync_directory
from ..io.mask_files import mask_path
from ..solvers.options import check_options
from ..solvers.registry import BackendSpec, get_backend, specs_named
from .executors import map_unordered
from .inputs import collect_inputs, split_clashes
from .task import FAILED, SKIPPED, SOLVED, FileOutcome, describe_error, solve_file
from ..solvers.defaults import DEFAULT_EXACT, DEFAULT_POTTS


@dataclass
class SolveReport:
    """Outcome of :func:`solve_files`.

    Attributes:
        solved: inputs solved in this run (sorted).
        skipped: inputs whose valid output already existed (sorted).
        failed: input → one-line error message.
        seconds: wall time of the run.
    """

    solved: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No input failed."""
        return not self.failed

    @property
    def total(self) -> int:
        return len(self.solved) + len(self.skipped) + len(self.failed)

    def summary(self) -> str:
        """One line, e.g. ``"3 files: 2 solved, 0 skipped, 1 failed in 0.4 s"``."""
        return (f"{self.total} files: {len(self.solved)} solved, {len(self.skipped)} skipped "
                f"(already done), {len(self.failed)} failed in {self.seconds:.1f} s")

    def add(self, outcome: FileOutcome) -> None:
        """Record one task's outcome."""
        if outcome.status == SOLVED:
            self.solved.append(outcome.input)
        elif outcome.status == SKIPPED:
            self.skipped.append(outcome.input)
        else:
            self.failed[outcome.input] = outcome.message


def solve_files(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                backend: str | None = None, workers: int = 1, scheduler: Any = None,
                progress: bool = True, overwrite: bool = False,
                on_error: Callable[[Path, str], None] | None = None,
                options: Mapping[str, Any] | None = None) -> SolveReport:
    """Solve every energy file in ``inputs`` into ``out_dir/<stem>.npz``.

    Args:
        inputs: energy files (``.npz``/``.pt``) and directories of them.
        out_dir: output directory (created if needed). Mask file format:
            :mod:`ersm.io.mask_files`.
        backend: solver backend name; default ``graphcut`` (exact) for binary energy
            files and ``expansion`` for multi-label ones (a unary with an L axis, whose
            outputs hold ``labels``).
        options: backend options (``ersm backends --options`` lists them), checked once
            before any file is solved; outputs solved with other options are redone.
        workers: local worker processes (1 = solve in this process).
        scheduler: Dask scheduler address (``"tcp://…"``), ``"local"`` for a throw-away
            2-worker ``LocalCluster``, or a ``dask.distributed.Client``; needs the
            ``dist`` extra. Overrides ``workers`` for where tasks run.
        progress: show a tqdm bar on stderr (only when it is a terminal).
        overwrite: solve inputs even when their output is valid and up to date.
        on_error: called as ``on_error(input, message)`` when an input fails, as soon
            as it fails.

    Returns:
        :class:`SolveReport`; per-file failures are recorded, never raised: unreadable
        files, dangling links, and inputs that would share an output (e.g. ``x.npz``
        beside ``x.pt``: that pair fails, the rest is solved). Temporary files a killed
        run left in ``out_dir`` are removed first (do not run two batches into one
        directory at once).

    Raises:
        ValueError: unknown backend, ``workers < 1``, or an output that would overwrite
            its input.
        OSError: ``out_dir`` cannot be created (the message says why).
        ImportError: the backend's or Dask's optional dependencies are missing.
    """
    start = time.perf_counter()
    specs = backend_specs(backend)
    for spec in specs:
        if not spec.is_available:
            raise ImportError(f"backend {spec.name!r} needs {list(spec.requires)}: "
                              f"pip install 'ersm[{spec.extra}]'")
    options = check_options(options, specs)
    files, clashing = prepare_outputs(inputs, out_dir)
    task = partial(solve_file, out_dir=Path(out_dir), backend=backend, overwrite=overwrite,
                   options=options)
    return run_file_tasks(task, files, Path(out_dir), f"ersm solve ({backend or 'default'})",
                          workers=workers, scheduler=scheduler, progress=progress,
                          on_error=on_error, start=start, failed=clashing)


def backend_specs(backend: str | None) -> list[BackendSpec]:
    """The backends ``ersm solve -b backend`` may use: every energy kind registered as
    ``backend``, or, for None, the two defaults (``graphcut``, ``expansion``)."""
    if backend is None:
        return [get_backend(DEFAULT_EXACT), get_backend(DEFAULT_POTTS, "potts")]
    return specs_named(backend)


def prepare_outputs(inputs: Sequence[str | os.PathLike],
                    out_dir: str | os.PathLike) -> tuple[list[Path], dict[Path, str]]:
    """The shared start of file jobs: expand ``inputs``, set clashing ones aside, create
    ``out_dir`` and remove what a killed run's atomic writes left there.

    Returns:
        ``(files to run, input -> message of the inputs that cannot run)``.
    """
    files, clashing = split_clashes(collect_inputs(inputs), Path(out_dir))
    ensure_directory(out_dir)
    clean_temporaries(out_dir)
    return files, clashing


def run_file_tasks(task: Callable[[Path], FileOutcome], files: Sequence[Path],
                   out_dir: Path, desc: str, workers: int = 1, scheduler: Any = None,
                   progress: bool = True, on_error: Callable[[Path, str], None] | None = None,
                   start: float | None = None,
                   failed: dict[Path, str] | None = None) -> SolveReport:
    """Run a per-file ``task`` (picklable, returns a :class:`FileOutcome`) over ``files``
    in-process, in a pool or on Dask, with a progress bar; the shared loop of
    :func:`solve_files` and other file jobs (e.g. ``ersm path``). ``failed`` (input ->
    message) are inputs that failed before running; they are reported first."""
    start = time.perf_counter() if start is None else start
    report = SolveReport()
    for path, message in (failed or {}).items():
        report.add(FileOutcome(path, mask_path(out_dir, path), FAILED, message))
        if on_error is not None:
            on_error(path, message)
    with tqdm(total=len(files), unit="file", disable=None if progress else True,
              desc=desc) as bar:
        for path, result in map_unordered(task, files, workers=workers, scheduler=scheduler):
            if isinstance(result, BaseException):
                result = FileOutcome(path, mask_path(out_dir, path), FAILED, describe_error(result))
            report.add(result)
            if result.status == FAILED and on_error is not None:
                on_error(path, result.message)
            bar.update()
    sync_directory(out_dir)  # the tasks' writes are atomic but not fsynced one by one
    report.solved.sort()
    report.skipped.sort()
    report.failed = dict(sorted(report.failed.items()))
    report.seconds = time.perf_counter() - start
    return report
