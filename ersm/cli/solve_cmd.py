"""``ersm solve IN... --out DIR``: solve energy files into mask files (resumable)."""

from __future__ import annotations

import argparse

from .file_jobs import add_file_job_arguments, add_inputs_and_out, run_file_job
from ..solvers.defaults import DEFAULT_EXACT, DEFAULT_POTTS

HELP = """Solve energy files (.npz/.pt with 'unary', 'pairwise', optional 'connectivity',
'constant') into OUT/<stem>.npz mask files ('mask', 'energy', 'backend'; relaxed backends such as
meanfield also 'q' and 'free_energy'). A unary with a label axis ((B, L, H, W) or (L, H, W))
is a multi-label Potts energy: its output holds 'labels' instead of 'mask'. Outputs are
written atomically; inputs whose output is already valid are skipped, so re-running an
interrupted command finishes the job. Exit status 1 if any input failed."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``solve``."""
    p = subparsers.add_parser("solve", help="solve energy files into mask files",
                              description=HELP)
    add_inputs_and_out(p, "mask files")
    p.add_argument("--backend", "-b", default=None,
                   help=f"solver backend (default: {DEFAULT_EXACT} for binary energy files, "
                        f"{DEFAULT_POTTS} for multi-label ones)")
    p.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                   dest="options", help="backend option, repeatable (e.g. -O iters=5 -O "
                                        "temperature=0.5; values parsed as int, float, "
                                        "true/false/none or text); see 'ersm backends --options'")
    add_file_job_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ersm solve``; 0 if every input is done, 1 if any failed, 2 on bad usage."""
    from ..jobs.backends import parse_options
    from ..jobs.executors import LOCAL
    from ..jobs.solve_files import solve_files

    scheduler = LOCAL if args.dask else args.scheduler
    return run_file_job("solve", lambda on_error: solve_files(
        args.inputs, args.out, backend=args.backend,
        options=parse_options(args.options, args.backend), workers=args.workers,
        scheduler=scheduler, progress=not args.quiet, overwrite=args.overwrite,
        on_error=on_error))
