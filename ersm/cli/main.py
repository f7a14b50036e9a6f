"""``ersm`` entry point: ``ersm [--version] COMMAND ...``; commands parse and call :mod:`ersm.jobs`."""

from __future__ import annotations

import argparse
import re
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
    parser = build_parser()
    args = parser.parse_args(attach_negative_values(parser, sys.argv[1:] if argv is None
                                                     else list(argv)))
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("ersm: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:  # a command that did not catch its own: still one line
        print(f"ersm {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


_NEGATIVE_NUMBER = re.compile(r"^-(inf(inity)?|nan|(\d+\.?\d*|\.\d+)(e[+-]?\d+)?)$", re.I)


def attach_negative_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--opt -1e3`` / ``--opt -inf`` as ``--opt=-1e3``: argparse takes those values for
    option names (it only knows ``-1`` and ``-1.5`` as negative numbers); only options
    that take a value are joined, so flags are never changed."""
    takes_value = {option for action in _all_actions(parser) if action.nargs != 0
                   for option in action.option_strings}
    out: list[str] = []
    for token in argv:
        if out and out[-1] in takes_value and _NEGATIVE_NUMBER.match(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def _all_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The actions of ``parser`` and of its subcommands' parsers."""
    actions = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                actions += _all_actions(sub)
    return actions


USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError, ImportError)
"""Errors of bad input, files or environment: reported as one line, exit status 2."""




if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
