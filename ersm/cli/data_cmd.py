"""``ersm data …``: dataset generators (see :mod:`ersm.data.cli`)."""

from __future__ import annotations

import argparse

from ..data.cli import add_data_parser


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``data`` and its subcommands (``synth``)."""
    add_data_parser(subparsers)
