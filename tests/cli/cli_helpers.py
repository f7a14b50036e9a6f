"""Helpers shared by the I/O, batch-job and command-line tests."""

from __future__ import annotations

from pathlib import Path

from ersm.io import save_energy
from ersm.testing import random_grid_energy

BACKEND = "reference"
"""Exact pure-Python oracle: tests of the batch machinery do not depend on Numba."""


def write_energies(directory: Path, count: int = 3, suffix: str = ".npz") -> list[Path]:
    """``count`` small random energies (batched, 4-connected) saved in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    return [save_energy(directory / f"e{i}{suffix}",
                        random_grid_energy(batch=2, height=4, width=5, seed=i))
            for i in range(count)]
