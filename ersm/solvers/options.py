"""The options policy: which backend options a caller may pass, and which reach a backend.

One rule. Options are addressed to a set of backends: ``ersm.solve(energy, backend=b,
**options)`` addresses the one backend ``b``; a mask layer, whose backend can be switched
after it is built, addresses every registered backend. An option that *no* backend of the
set accepts is an error (``TypeError`` naming it and listing the accepted options with
their defaults); every backend receives exactly the options *it* accepts. So ``solve``
refuses an option its backend lacks, and a layer refuses a misspelt option when it is
built but passes ``iters`` to ``meanfield`` and not to ``graphcut``.

What a backend accepts is its ``run``'s signature after ``(unary, pairwise)``
(``**kwargs``: anything); its defaults are ``BackendSpec.defaults``
(:func:`option_defaults`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .registry import BackendSpec, accepted_options, backends, get_backend

__all__ = ["backend_options_for", "check_backend_options", "check_options", "option_defaults"]


def option_defaults(name: str) -> dict[str, Any]:
    """``{option: default}`` of the backend ``name`` (``BackendSpec.defaults``).

    Example:
        >>> option_defaults("ste")
        {'surrogate': 'sigmoid', 'temperature': 1.0}
    """
    return dict(get_backend(name).defaults)


def check_options(options: Mapping[str, Any] | None, specs: Iterable[BackendSpec]) -> dict[str, Any]:
    """A copy of ``options``; ``TypeError`` for keys no backend of ``specs`` accepts.

    Args:
        options: option names and values.
        specs: the backends the options are addressed to.
    """
    options = dict(options or {})
    specs = list(specs)
    known: set[str] = set()
    for spec in specs:
        accepted = accepted_options(spec)
        if accepted is None:
            return options
        known |= set(accepted)
    unknown = sorted(set(options) - known)
    if unknown:
        if len(specs) == 1:
            raise TypeError(f"backend {specs[0].name!r} does not accept option(s) {unknown}; "
                            f"it accepts {list(accepted_options(specs[0]) or ())} "
                            f"(defaults {specs[0].defaults})")
        raise TypeError(f"backend_options {unknown} are accepted by no backend; known options: "
                        f"{sorted(known)}")
    return options


def check_backend_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """:func:`check_options` addressed to every registered backend (a layer's options)."""
    return check_options(options, backends(include_unavailable=True))


def backend_options_for(backend: str, temperature: float,
                        options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The options to pass to ``backend``: ``temperature`` and ``options`` it accepts.

    One options dict can serve several backends (so the backend of a built layer can be
    switched): keys the backend does not accept are left out (they were checked against
    all backends by :func:`check_backend_options`).
    """
    merged = {"temperature": temperature, **(options or {})}
    accepted = accepted_options(get_backend(backend))
    return merged if accepted is None else {k: v for k, v in merged.items() if k in accepted}
