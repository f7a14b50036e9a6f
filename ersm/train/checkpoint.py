"""Alias of :mod:`ersm.runs.checkpoint` (the run layer moved below evaluation; this name is kept)."""

from ..runs.checkpoint import *  # noqa: F401,F403
from ..runs.checkpoint import __all__  # noqa: F401
