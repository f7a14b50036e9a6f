"""``ersm path IN... --out DIR``: keep-cost paths of energy files into threshold files."""

from __future__ import annotations

import argparse
import math

from .file_jobs import add_file_job_arguments, add_inputs_and_out, run_file_job

HELP = """Solve the exact keep-cost path of energy files (.npz/.pt with 'unary', 'pairwise',
optional 'connectivity', 'constant'): for every λ, thresholds >= λ is the canonical
minimiser of E + λ·sum(mask). Writes OUT/<stem>.npz with 'thresholds', 'lam_min',
'lam_max', 'kind'. Outputs are written atomically; inputs whose output is already valid
(same range) are skipped, so re-running an interrupted command finishes the job. Exit
status 1 if any input failed."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``path``."""
    p = subparsers.add_parser("path", help="keep-cost paths of energy files (thresholds)",
                              description=HELP)
    add_inputs_and_out(p, "threshold files")
    p.add_argument("--lam-min", type=float, default=-math.inf, metavar="L",
                   help="lower end of the keep-cost range (default: -inf)")
    p.add_argument("--lam-max", type=float, default=math.inf, metavar="L",
                   help="upper end of the keep-cost range (default: +inf)")
    add_file_job_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ersm path``; 0 if every input is done, 1 if any failed, 2 on bad usage."""
    from ..jobs.executors import LOCAL
    from ..jobs.path_files import path_files

    scheduler = LOCAL if args.dask else args.scheduler
    return run_file_job("path", lambda on_error: path_files(
        args.inputs, args.out, lam_min=args.lam_min, lam_max=args.lam_max,
        workers=args.workers, scheduler=scheduler, progress=not args.quiet,
        overwrite=args.overwrite, on_error=on_error))
