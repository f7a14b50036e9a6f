"""Deprecated path of :mod:`ersm.solvers.kernels.bk` (the grid BK kernel)."""

import warnings

from .kernels.bk import *  # noqa: F401,F403
from .kernels.bk import (_NO_PARENT, _SOURCE, _direction_offsets, _maxflow,  # noqa: F401
                         _push_trivial_paths, grid_mincut_batch, grid_mincut_batch_warm)

warnings.warn("ersm.solvers._bk_kernel moved to ersm.solvers.kernels.bk", DeprecationWarning,
              stacklevel=2)
