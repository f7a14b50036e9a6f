"""Alias of :mod:`ersm.runs.config` (the run layer moved below evaluation; this name is kept)."""

from ..runs.config import *  # noqa: F401,F403
from ..runs.config import __all__  # noqa: F401
