"""Alias of :mod:`ersm.runs.distributed` (the run layer moved below evaluation; this name is kept)."""

from ..runs.distributed import *  # noqa: F401,F403
from ..runs.distributed import __all__  # noqa: F401
