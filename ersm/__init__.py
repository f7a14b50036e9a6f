"""ersm: unary-pairwise mask energies on token grids with interchangeable solvers.

Example:
    >>> import numpy as np, ersm
    >>> energy = ersm.GridEnergy(np.array([[-1.0, 0.5]]), np.full((2, 1, 2), 0.2))
    >>> result = ersm.solve(energy)            # exact graph cut
    >>> result.mask, float(result.energy)
    (array([[ True, False]]), -0.8)
"""

from . import errors
from .core.workspace import free_workspace
from .energy import GridEnergy, PottsEnergy, constant_weights, contrast_weights, cosine_weights
from .solvers import PottsResult, SolveResult, available, solve
from .solvers import PathResult, SweepResult, solve_path, sweep

__version__ = "0.1.0"
__all__ = [
    "GridEnergy",
    "PathResult",
    "PottsEnergy",
    "PottsResult",
    "SolveResult",
    "SweepResult",
    "available",
    "constant_weights",
    "contrast_weights",
    "cosine_weights",
    "errors",
    "free_workspace",
    "solve",
    "solve_path",
    "sweep",
]
