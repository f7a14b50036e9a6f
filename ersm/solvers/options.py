"""The options policy: which backend options a caller may pass, and which reach a backend."""

from __future__ import annotations

from typing import Any, Mapping

from .registry import accepted_options, backends, get_backend


def _accepted_options(name: str) -> set[str] | None:
    """Option names a backend's ``run`` accepts (``None``: any, it takes ``**kwargs``)."""
    accepted = accepted_options(get_backend(name))
    return None if accepted is None else set(accepted)


def check_backend_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``options``; ``TypeError`` for keys no registered backend accepts."""
    options = dict(options or {})
    known: set[str] = set()
    for spec in backends(include_unavailable=True):
        accepted = _accepted_options(spec.name)
        if accepted is None:
            return options
        known |= accepted
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"backend_options {unknown} are accepted by no backend; known options: "
                        f"{sorted(known)}")
    return options


def backend_options_for(backend: str, temperature: float,
                        options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The options to pass to ``backend``: ``temperature`` and ``options`` it accepts.

    One options dict can serve several backends (so the backend of a built layer can be
    switched): keys the backend does not accept are left out.
    """
    merged = {"temperature": temperature, **(options or {})}
    accepted = _accepted_options(backend)
    return merged if accepted is None else {k: v for k, v in merged.items() if k in accepted}
