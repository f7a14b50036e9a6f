"""Fixtures for the I/O, batch-job and command-line tests: small energy files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import write_energies


@pytest.fixture
def energy_dir(tmp_path: Path) -> Path:
    """``tmp_path/in`` with ``e0.npz``, ``e1.npz``, ``e2.npz``."""
    write_energies(tmp_path / "in")
    return tmp_path / "in"


@pytest.fixture
def bad_file(energy_dir: Path) -> Path:
    """A file with an energy suffix that is not an energy file, next to the good ones."""
    path = energy_dir / "broken.npz"
    path.write_bytes(b"not a zip archive")
    return path
