"""Old home of the grid BK kernel, now :mod:`ersm.solvers.kernels.bk` (kept for
:mod:`ersm.solvers.path._bk`, which reads private names; import the new path)."""

from .kernels.bk import *  # noqa: F401,F403
from .kernels.bk import (_NO_PARENT, _SOURCE, _direction_offsets, _maxflow,  # noqa: F401
                         _push_trivial_paths)
