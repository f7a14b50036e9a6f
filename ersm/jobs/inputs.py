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
            directories (their ``*.npz`` and ``*.pt`` files, not recursive, sorted).
            Paths that do not exist are kept, so they are reported as failed.

    Returns:
        Paths in input order, directories expanded in sorted order, duplicates removed.
    """
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files.extend(sorted(p for p in item.iterdir()
                                if p.suffix.lower() in SUFFIXES and p.is_file()
                                and not p.name.startswith(".")))
        else:
            files.append(item)
    unique: dict[Path, Path] = {}
    for path in files:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def check_outputs(inputs: list[Path], out_dir: Path) -> None:
    """Refuse plans where two inputs share an output or an output overwrites an input.

    Raises:
        ValueError: naming the clashing files (e.g. ``a/x.npz`` and ``b/x.pt`` both map
            to ``OUT/x.npz``).
    """
    by_output: dict[Path, list[Path]] = defaultdict(list)
    for path in inputs:
        by_output[mask_path(out_dir, path).resolve()].append(path)
    for output, sources in by_output.items():
        if len(sources) > 1:
            names = ", ".join(str(p) for p in sources)
            raise ValueError(f"inputs {names} would all be written to {output}; rename them "
                             "or solve them into different output directories")
        if sources[0].resolve() == output:
            raise ValueError(f"the mask of {sources[0]} would overwrite the input itself; "
                             "choose another output directory")
