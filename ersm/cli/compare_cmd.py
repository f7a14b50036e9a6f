"""``ersm compare``: several trained runs evaluated on the same images, side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .evaluate_cmd import add_settings_arguments, settings_from_args
from .errors import one_line

HELP = """Evaluate every RUN on the same images with the same settings (cached per run in
REPORT/runs/<name>/) and write a side-by-side table (REPORT/report.md, REPORT/metrics.json)
and figures: AUCs by ranking, accuracy/IoU/occlusion bars, and the masks of every run on
the same images."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``compare``."""
    p = subparsers.add_parser("compare", help="compare trained runs side by side",
                              description=HELP)
    p.add_argument("runs", nargs="+", metavar="RUN", help="training run directories")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="REPORT",
                   help="report directory")
    p.add_argument("--names", help="comma-separated column names (default: run folder names)")
    add_settings_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ersm compare`` (:func:`ersm.jobs.evaluate.compare`); 0 on success, 2 on bad
    arguments or data."""
    from ..jobs.evaluate import compare, compare_summary

    names = None if args.names is None else [n.strip() for n in args.names.split(",")]
    try:
        result = compare(args.runs, args.data, args.out, settings_from_args(args), names=names,
                         threads=args.threads, progress=not args.quiet)
    except (ValueError, OSError, ImportError) as exc:
        print(f"ersm compare: error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(compare_summary(result, args.out))
    return 0
