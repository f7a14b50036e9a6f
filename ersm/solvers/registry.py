"""Registry of solver backends with capability flags (swap backends by name).

The registry imports no backend: :mod:`ersm.solvers.backends` registers the built-ins
when :mod:`ersm.solvers` is imported, a plug-in calls :func:`register` itself.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

from ..core.optional import importable


@dataclass(frozen=True)
class BackendSpec:
    """What a backend can do; the dispatcher and the conformance suite read these flags.

    Attributes:
        name: registry key used in ``ersm.solve(energy, backend=name)``.
        kind: the energy it solves: ``"grid"`` (binary :class:`~ersm.GridEnergy`, the
            default) or ``"potts"`` (multi-label :class:`~ersm.PottsEnergy`; ``run`` then
            receives ``unary (B, L, H, W)`` and returns ``"labels"`` ``(B, H, W)`` int64
            instead of ``"mask"``). One name may be registered once per kind.
        run: ``run(unary (B,H,W) f64, pairwise (B,K,H,W) f64, **options) -> dict`` with at
            least ``"mask"`` ``(B, H, W)`` bool; optionally ``"mask_energy"`` ``(B,)``
            float64, the masks' energies without the constant summed exactly as
            ``GridEnergy.energy`` sums them on NumPy (``solve`` then takes them instead of
            summing again); other keys land in ``SolveResult.info``.
            Receives validated, C-contiguous NumPy arrays and never validates.
        exact: returns a global minimiser (of the float64 energy).
        quantised: exact only on inputs that scale exactly to int32 (else approximate).
        canonical: an exact backend that returns the canonical minimiser on ties (the
            union of all minimisers, as the graph cut does), not just some minimiser.
        differentiable: returns a differentiable relaxed mask ``q`` (torch).
        needs_submodular: refuses negative pairwise weights.
        requires: importable modules needed (optional extras).
        extra: the pip extra that installs ``requires``.
        max_tokens: largest ``H * W`` the backend accepts (brute force), or None.
        array: what ``run`` receives: ``"numpy"`` (validated host float64 NumPy, the
            default) or ``"native"`` (the energy's own batched arrays, NumPy or torch, any
            dtype and device; the backend returns the same kind).
        description: one line for ``available()`` listings and the docs.
        defaults: the options ``run`` takes and their defaults (``{"iters": 50, ...}``);
            :func:`register` fills it from ``run``'s signature when left empty. Read by
            :func:`ersm.solvers.options.option_defaults` and the options error messages.
    """

    name: str
    run: Callable[..., dict]
    exact: bool = False
    quantised: bool = False
    canonical: bool = False
    differentiable: bool = False
    needs_submodular: bool = False
    requires: tuple[str, ...] = ()
    extra: str = ""
    max_tokens: int | None = None
    array: str = "numpy"
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    kind: str = "grid"

    @property
    def is_available(self) -> bool:
        """Its optional dependencies import (and are usable)."""
        return all(importable(m) for m in self.requires)


KINDS: tuple[str, ...] = ("grid", "potts")
"""Energy kinds a backend can solve (:attr:`BackendSpec.kind`)."""

_REGISTRY: dict[tuple[str, str], BackendSpec] = {}


def register(spec: BackendSpec) -> BackendSpec:
    """Add a backend (replacing one of the same name) and return its spec.

    ``spec.defaults`` is filled from ``spec.run``'s signature when empty.
    """
    if spec.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {spec.kind!r}")
    defaults = signature_defaults(spec.run)
    if defaults and not spec.defaults:  # a spec already filled in registers unchanged
        spec = replace(spec, defaults=defaults)
    _REGISTRY[spec.kind, spec.name] = spec
    return spec


def unregister(name: str, kind: str = "grid") -> BackendSpec:
    """Remove the backend ``name`` (a plug-in, e.g. after a test) and return its spec."""
    get_backend(name, kind)
    return _REGISTRY.pop((kind, name))


def signature_defaults(run: Callable[..., Any]) -> dict[str, Any]:
    """``{option: default}`` of the options ``run`` takes after ``(unary, pairwise)``
    (options without a default are left out)."""
    params = list(inspect.signature(run).parameters.values())[2:]
    return {p.name: p.default for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty}


def get_backend(name: str, kind: str = "grid") -> BackendSpec:
    """The spec registered as ``name`` for energies of ``kind``; ``ValueError`` lists the
    known names of that kind otherwise."""
    if (kind, name) not in _REGISTRY:
        names = sorted(n for k, n in _REGISTRY if k == kind)
        other = [k for k, n in _REGISTRY if n == name]
        hint = (f" ({name!r} solves {_ENERGY_NAMES[other[0]]} only)" if other else "")
        raise ValueError(f"backend must be one of {names} for a {_ENERGY_NAMES[kind]}, "
                         f"got {name!r}{hint}")
    return _REGISTRY[kind, name]


_ENERGY_NAMES = {"grid": "GridEnergy", "potts": "PottsEnergy"}


def specs_named(name: str) -> list[BackendSpec]:
    """Every spec registered as ``name`` (one per energy kind it solves); ``ValueError``
    lists the known names when there is none (e.g. ``ersm solve -b NAME``, before the
    energy files are read)."""
    specs = [spec for (_, n), spec in sorted(_REGISTRY.items()) if n == name]
    if not specs:
        raise ValueError(f"backend must be one of {sorted({n for _, n in _REGISTRY})}, "
                         f"got {name!r}")
    return specs


def accepted_options(spec: BackendSpec) -> tuple[str, ...] | None:
    """Option names ``spec.run`` accepts after ``(unary, pairwise)``; ``None`` when it
    takes ``**kwargs`` (any). Cached: solving inside training asks on every call."""
    return _accepted_options(spec.run)


@functools.lru_cache(maxsize=None)
def _accepted_options(run: Callable[..., Any]) -> tuple[str, ...] | None:
    params = inspect.signature(run).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return tuple(params)[2:]


def backends(where: Callable[[BackendSpec], bool] | None = None,
             include_unavailable: bool = False, kind: str = "grid") -> list[BackendSpec]:
    """Registered specs for energies of ``kind`` (available ones unless asked),
    optionally filtered, sorted by name."""
    specs: Iterable[BackendSpec] = sorted((s for s in _REGISTRY.values() if s.kind == kind),
                                          key=lambda s: s.name)
    if not include_unavailable:
        specs = [s for s in specs if s.is_available]
    return [s for s in specs if where is None or where(s)]


def available(kind: str = "grid") -> list[str]:
    """Names of the backends usable on this machine for energies of ``kind``."""
    return [s.name for s in backends(kind=kind)]
