"""Alias of :mod:`ersm.runs.data` (the run layer moved below evaluation; this name is kept)."""

from ..runs.data import *  # noqa: F401,F403
from ..runs.data import __all__  # noqa: F401
