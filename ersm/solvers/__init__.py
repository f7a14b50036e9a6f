"""Solver backends behind one entry point, :func:`solve`, swapped by name.

:mod:`.registry` imports no backend; the package :mod:`.backends` registers the
built-ins. It is imported first, before :func:`backends` (the registry listing) is bound
here: the name ``ersm.solvers.backends`` is the function, and the backend modules are
imported by path (``from ersm.solvers.backends import ste``).
"""

from . import backends as _builtin_backends  # noqa: F401  (registers the built-ins)
from .api import solve
from .defaults import DEFAULT_BUDGETED, DEFAULT_EXACT, DEFAULT_POTTS, DEFAULT_RELAXED
from .graphcut_state import GraphCutState
from .path import PathResult, SweepResult, solve_path, sweep
from .registry import BackendSpec, available, backends, get_backend, register
from .result import PottsResult, SolveResult

__all__ = ["BackendSpec", "DEFAULT_BUDGETED", "DEFAULT_EXACT", "DEFAULT_POTTS", "DEFAULT_RELAXED", "GraphCutState",
           "PottsResult", "SolveResult",
           "available", "backends", "get_backend", "register", "solve"]
__all__ += ["PathResult", "SweepResult", "solve_path", "sweep"]
