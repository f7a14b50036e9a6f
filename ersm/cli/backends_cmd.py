"""``ersm backends``: list the solver backends and what they can do."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``backends``."""
    p = subparsers.add_parser("backends", help="list solver backends",
                              description="List solver backends (usable ones unless --all).")
    p.add_argument("--all", action="store_true", help="include backends whose extras are missing")
    p.add_argument("--options", action="store_true",
                   help="list each backend's options with their defaults (pass them to "
                        "'ersm solve' as -O KEY=VALUE)")
    p.add_argument("--kind", choices=("grid", "potts"), default="grid",
                   help="energies the backends solve: grid (binary GridEnergy, default) or "
                        "potts (multi-label PottsEnergy)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per backend (:func:`ersm.jobs.backends.backend_lines`); always 0."""
    from ..jobs.backends import backend_lines

    for line in backend_lines(include_unavailable=args.all, options=args.options,
                              kind=args.kind):
        print(line)
    return 0
