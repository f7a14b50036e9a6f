"""Expand the inputs of a batch job (files and directories) and plan their outputs."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from ..io.energy_files import SUFFIXES
from ..io.mask_files import mask_path


def collect_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Energy files named by ``inputs``: files as given, directories expanded.

    Args:
        inputs: files (any suffix: a wrong one is reported per file when solving) and
            directories (their ``*.npz`` and ``*.pt`` files, not recursive, sorted; hidden
            files such as the temporaries of an atomic write are left out). Paths that do
            not exist are kept, and so are dangling symbolic links in a directory, so they
            are reported as failed, never skipped silently.

    Returns:
        Paths in input order, directories expanded in sorted order, duplicates removed.
    """
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files.extend(sorted(p for p in item.iterdir()
                                if p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
                                and (p.is_file() or (p.is_symlink() and not p.exists()))))
        else:
            files.append(item)
    unique: dict[Path, Path] = {}
    for path in files:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def split_clashes(inputs: list[Path], out_dir: Path) -> tuple[list[Path], dict[Path, str]]:
    """Separate the inputs that share an output (e.g. ``x.npz`` beside ``x.pt``).

    Returns:
        ``(runnable, clashing)``: inputs with an output of their own, in input order, and
        ``input -> message`` for each input of a clash, so a batch reports those and
        solves the rest.

    Raises:
        ValueError: an output would overwrite an input itself (a wrong ``out_dir``).
    """
    by_output: dict[Path, list[Path]] = defaultdict(list)
    for path in inputs:
        by_output[mask_path(out_dir, path).resolve()].append(path)
    clashing: dict[Path, str] = {}
    for output, sources in by_output.items():
        if any(source.resolve() == output for source in sources):
            raise ValueError(f"the mask of {sources[0]} would overwrite the input itself; "
                             "choose another output directory")
        if len(sources) > 1:
            names = ", ".join(str(p) for p in sources)
            for source in sources:
                clashing[source] = (f"inputs {names} would all be written to {output}; rename "
                                    "them or solve them into different output directories")
    return [p for p in inputs if p not in clashing], clashing


def check_outputs(inputs: list[Path], out_dir: Path) -> None:
    """Refuse plans where two inputs share an output or an output overwrites an input.

    Raises:
        ValueError: naming the clashing files (e.g. ``a/x.npz`` and ``b/x.pt`` both map
            to ``OUT/x.npz``).
    """
    _, clashing = split_clashes(inputs, out_dir)
    if clashing:
        raise ValueError(next(iter(clashing.values())))
