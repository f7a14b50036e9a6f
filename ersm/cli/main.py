"""``ersm`` entry point: ``ersm [--version] COMMAND ...``; commands parse and call :mod:`ersm.jobs`."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .. import __version__
from . import (backends_cmd, compare_cmd, data_cmd, demo_cmd, evaluate_cmd, masks_cmd, solve_cmd,
               train_cmd)
from . import path_cmd
from .errors import one_line

COMMANDS = (solve_cmd, demo_cmd, backends_cmd, data_cmd, train_cmd, masks_cmd, evaluate_cmd,
            compare_cmd, path_cmd)
"""Subcommand modules; each has ``add_parser(subparsers)`` setting ``run(args) -> int``."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per module in :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="ersm", description="Unary-pairwise mask energies on token grids.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failures, 2 usage errors).

    Example:
        >>> main(["backends"])  # doctest: +SKIP
    """
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("ersm: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:  # a command that did not catch its own: still one line
        print(f"ersm {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError, ImportError)
"""Errors of bad input, files or environment: reported as one line, exit status 2."""




if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
