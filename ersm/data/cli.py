"""Deprecated: the ``ersm data`` command line moved to :mod:`ersm.cli.data_cmd`.

``from ersm.data.cli import add_data_parser`` (and ``add_synth_parser``,
``run_synth_cli``) still works and warns.
"""

from __future__ import annotations

import warnings
from typing import Any

_MOVED = ("add_data_parser", "add_synth_parser", "run_synth_cli")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(f"ersm.data.cli.{name} moved to ersm.cli.data_cmd.{name}",
                      DeprecationWarning, stacklevel=2)
        from ..cli import data_cmd

        return getattr(data_cmd, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__: list[str] = []
