"""Batch jobs behind the command line: solving directories of energy files, the demo."""

from .solve_files import SolveReport, solve_files
from .task import FileOutcome, solve_file

__all__ = ["FileOutcome", "SolveReport", "solve_file", "solve_files"]
