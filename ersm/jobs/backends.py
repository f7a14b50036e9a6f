"""The job behind ``ersm backends``: one line per solver backend (and its options)."""

from __future__ import annotations

from ..solvers.registry import BackendSpec, backends


def describe_backend(spec: BackendSpec) -> str:
    """One line: name, description and flags (``exact``, ``differentiable``, missing extra)."""
    flags = [flag for flag in ("exact", "differentiable") if getattr(spec, flag)]
    if not spec.is_available:
        flags.append(f"needs: pip install 'ersm[{spec.extra}]'")
    return f"{spec.name:<12} {spec.description}" + (f" [{', '.join(flags)}]" if flags else "")


def backend_lines(include_unavailable: bool = False) -> list[str]:
    """:func:`describe_backend` of every registered backend (usable ones unless
    ``include_unavailable``), in registry order."""
    return [describe_backend(spec) for spec in backends(include_unavailable=include_unavailable)]


__all__ = ["backend_lines", "describe_backend"]
