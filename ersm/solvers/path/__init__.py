"""Exact regularisation paths over the keep cost (``solve_path``) and pairwise sweeps."""

from .api import solve_path
from .result import PathResult
from .sweep import SweepResult, sweep

__all__ = ["PathResult", "SweepResult", "solve_path", "sweep"]
