"""Deprecated path of :mod:`ersm.solvers.backends.brute` (the ``brute`` backend)."""

import warnings

from .backends.brute import *  # noqa: F401,F403
from .backends.brute import all_masks, brute_force_masks  # noqa: F401

warnings.warn("ersm.solvers.brute moved to ersm.solvers.backends.brute", DeprecationWarning,
              stacklevel=2)
