"""The jobs behind the command line (each ``ersm`` command parses and calls one):

- :func:`solve_files` (``ersm solve``), :func:`~ersm.jobs.path_files.path_files` (``ersm path``);
- :func:`~ersm.jobs.train_run.train_run` (``ersm train``);
- :func:`~ersm.jobs.export.export_masks` (``ersm masks``);
- :func:`~ersm.jobs.evaluate.evaluate`, :func:`~ersm.jobs.evaluate.compare`;
- :func:`~ersm.jobs.backends.backend_lines` (``ersm backends``);
- :mod:`~ersm.jobs.demo` (``ersm demo``).

Submodules that need torch import it themselves; ``import ersm.jobs`` does not.
"""

from .solve_files import SolveReport, solve_files
from .task import FileOutcome, solve_file

__all__ = ["FileOutcome", "SolveReport", "solve_file", "solve_files"]
