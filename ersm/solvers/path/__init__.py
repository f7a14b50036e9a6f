"""Exact regularisation paths over the keep cost (``solve_path``) and pairwise sweeps."""

from .api import solve_path
from .result import PathResult

__all__ = ["PathResult", "solve_path"]
