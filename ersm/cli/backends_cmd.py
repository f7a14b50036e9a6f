"""``ersm backends``: list the solver backends and what they can do."""

from __future__ import annotations

import argparse

from ..solvers.registry import BackendSpec, backends


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``backends``."""
    p = subparsers.add_parser("backends", help="list solver backends",
                              description="List solver backends (usable ones unless --all).")
    p.add_argument("--all", action="store_true", help="include backends whose extras are missing")
    p.set_defaults(run=run)


def describe(spec: BackendSpec) -> str:
    """One line: name, flags and description."""
    flags = [flag for flag in ("exact", "differentiable") if getattr(spec, flag)]
    if not spec.is_available:
        flags.append(f"needs: pip install 'ersm[{spec.extra}]'")
    return f"{spec.name:<12} {spec.description}" + (f" [{', '.join(flags)}]" if flags else "")


def run(args: argparse.Namespace) -> int:
    """Print one line per backend; always 0."""
    for spec in backends(include_unavailable=args.all):
        print(describe(spec))
    return 0
