"""What ``ersm solve`` and ``ersm path`` share: where the work runs, resume and progress
flags, how a failed input is reported (one line per file, the batch goes on) and the exit
status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from .errors import one_line


def add_inputs_and_out(p: argparse.ArgumentParser, outputs: str) -> None:
    """The positional energy inputs and ``--out DIR`` of a file job writing ``outputs``."""
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN",
                   help="energy files, or directories of *.npz / *.pt files")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="DIR",
                   help=f"output directory for the {outputs}")


def add_file_job_arguments(p: argparse.ArgumentParser) -> None:
    """``--workers``, ``--scheduler`` / ``--dask``, ``--overwrite`` and ``--quiet``."""
    p.add_argument("--workers", "-j", type=int, default=1, metavar="N",
                   help="local worker processes (default: 1)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on a Dask distributed cluster, e.g. tcp://host:8786")
    where.add_argument("--dask", action="store_true",
                       help="start a local Dask cluster (2 worker processes, or --workers)")
    p.add_argument("--overwrite", action="store_true", help="solve again even if outputs are valid")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def print_file_error(path: Path, message: str) -> None:
    """Report one failed input on its own line (above the progress bar)."""
    where = "" if str(path) in message else f"{path}: "
    tqdm.write(f"error: {where}{message}", file=sys.stderr)


def run_file_job(command: str, job: Callable[[Callable[[Path, str], None]], Any]) -> int:
    """Run ``job(on_error)`` (a ``solve_files`` / ``path_files`` call reporting each failed
    input through ``on_error``) and print its summary: exit status 0 when every input is
    done, 1 when any failed, 2 (one line on stderr, ``ersm COMMAND: error: …``) for a bad
    argument."""
    try:
        report = job(print_file_error)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"ersm {command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1
