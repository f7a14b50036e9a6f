"""Markdown table cells and tables shared by the metric sections and the reports.

Missing (undefined) values print as ``—``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: ``—`` for None/NaN, fixed digits for floats, ``str`` otherwise.

    Example:
        >>> fmt(None), fmt(0.12345), fmt(3)
        ('—', '0.123', '3')
    """
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.3g}"
    return str(value)


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table (cells formatted with :func:`fmt`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def auc_cell(metrics: Mapping[str, Any], key: str) -> str:
    """The value at ``key``, with ``± std`` when ``<key>_std`` exists (the random ranking)."""
    value, std = metrics.get(key), metrics.get(f"{key}_std")
    return fmt(value) if std is None or value is None else f"{value:.3f} ± {std:.3f}"


__all__ = ["auc_cell", "fmt", "md_table"]
