"""Solver backends behind one entry point, :func:`solve`, swapped by name."""

from .api import solve
from .graphcut_state import GraphCutState
from .path import PathResult, SweepResult, solve_path, sweep
from .registry import BackendSpec, available, backends, get_backend, register
from .result import SolveResult

__all__ = ["BackendSpec", "GraphCutState", "SolveResult", "available", "backends", "get_backend", "register", "solve"]
__all__ += ["PathResult", "SweepResult", "solve_path", "sweep"]
