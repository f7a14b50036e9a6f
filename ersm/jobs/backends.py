"""The job behind ``ersm backends``: one line per solver backend (and its options)."""

from __future__ import annotations

import inspect
import re
from typing import Any, Iterable

from ..solvers.registry import BackendSpec, backends, signature_defaults

_ARG = re.compile(r"^    ([\w, ]+?)(?: \([^)]*\))?: (.*)$")
_CONTINUED = re.compile(r"^      +\S")
_SENTENCE_END = re.compile(r"(?<=\.)\s")


def describe_backend(spec: BackendSpec) -> str:
    """One line: name, description and flags (``exact``, ``differentiable``, missing extra)."""
    flags = [flag for flag in ("exact", "differentiable") if getattr(spec, flag)]
    if not spec.is_available:
        flags.append(f"needs: pip install 'ersm[{spec.extra}]'")
    return f"{spec.name:<12} {spec.description}" + (f" [{', '.join(flags)}]" if flags else "")


def option_defaults(spec: BackendSpec) -> dict[str, Any]:
    """``{option: default}`` of a backend: ``spec.defaults``, else its ``run``'s signature."""
    return dict(spec.defaults) if spec.defaults else signature_defaults(spec.run)


def option_help(spec: BackendSpec) -> dict[str, str]:
    """``{option: first sentence of its description}`` from the ``Args:`` section of the
    Google-style docstring of ``spec.run`` (empty where it is not documented).

    An entry may name several options (``iters, tol: ...``) and continue on deeper
    indented lines; each named option gets the entry's first sentence.
    """
    doc = inspect.getdoc(spec.run) or ""
    entries: list[tuple[list[str], str]] = []
    in_args = False
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:"):
            in_args = True
            continue
        if not in_args:
            continue
        if line and not line.startswith(" "):
            break  # the next section
        match = _ARG.match(line)
        if match:
            names = [name.strip() for name in match.group(1).split(",")]
            entries.append((names, match.group(2).strip()))
        elif entries and _CONTINUED.match(line):
            names, text = entries[-1]
            entries[-1] = (names, f"{text} {line.strip()}")
    return {name: _first_sentence(text) for names, text in entries for name in names}


def _first_sentence(text: str) -> str:
    """``text`` up to its first ``.`` followed by a space (all of it if none)."""
    return _SENTENCE_END.split(text, maxsplit=1)[0]


def option_lines(spec: BackendSpec) -> list[str]:
    """One indented line per option of ``spec``: ``name=default  description``."""
    defaults, helps = option_defaults(spec), option_help(spec)
    if not defaults:
        return ["    (no options)"]
    width = max(len(f"{name}={value!r}") for name, value in defaults.items())
    return [f"    {f'{name}={value!r}':<{width}}  {helps.get(name, '')}".rstrip()
            for name, value in defaults.items()]


def backend_lines(include_unavailable: bool = False, options: bool = False,
                  kind: str = "grid") -> list[str]:
    """:func:`describe_backend` of every backend registered for energies of ``kind``
    (usable ones unless ``include_unavailable``), in registry order; with ``options``
    each is followed by its :func:`option_lines`."""
    lines: list[str] = []
    for spec in backends(include_unavailable=include_unavailable, kind=kind):
        lines.append(describe_backend(spec))
        if options:
            lines.extend(option_lines(spec))
    return lines


def parse_option_value(text: str) -> Any:
    """A command-line option value: int, then float, then ``true``/``false``/``none``
    (any case), else the string itself.

    Example:
        >>> [parse_option_value(t) for t in ("5", "0.5", "True", "none", "checkerboard")]
        [5, 0.5, True, None, 'checkerboard']
    """
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    words = {"true": True, "false": False, "none": None}
    return words.get(text.lower(), text)


def parse_options(pairs: Iterable[str], backend: str | None) -> dict[str, Any]:
    """``["iters=5", "temperature=0.5"]`` as options of ``backend`` (every energy kind it
    solves; None: the default backends of ``ersm solve``), checked.

    Raises:
        ValueError: a pair without ``=``, an empty key, a key given twice, or a key the
            backend does not accept (the message names it and lists the accepted ones).
    """
    from .solve_files import backend_specs

    specs = backend_specs(backend)
    accepted = {name: value for spec in specs for name, value in option_defaults(spec).items()}
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"option {pair!r} must be KEY=VALUE (e.g. iters=5)")
        if key in options:
            raise ValueError(f"option {key!r} given twice")
        if key not in accepted and not any(_takes_any_option(spec) for spec in specs):
            known = ", ".join(accepted) or "none"
            raise ValueError(f"backend {backend or '(default)'!r} has no option {key!r} "
                             f"(its options: {known})")
        options[key] = parse_option_value(value.strip())
    return options


def _takes_any_option(spec: BackendSpec) -> bool:
    try:
        params = inspect.signature(spec.run).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return True
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


__all__ = ["backend_lines", "describe_backend", "option_defaults", "option_help",
           "option_lines", "parse_option_value", "parse_options"]
