"""Solver backends behind one entry point, :func:`solve`, swapped by name."""

from .api import solve
from .registry import BackendSpec, available, backends, get_backend, register
from .result import SolveResult

__all__ = ["BackendSpec", "SolveResult", "available", "backends", "get_backend", "register", "solve"]
