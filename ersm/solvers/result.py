"""``SolveResult``: what every backend returns through ``ersm.solve``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SolveResult:
    """Result of ``ersm.solve``.

    Attributes:
        mask: ``(B, H, W)`` (or ``(H, W)``) bool keep-mask, same array type and device as
            the energy's arrays.
        energy: ``(B,)`` (or ``()``) float64 discrete energy of ``mask``, constant included,
            evaluated by :meth:`GridEnergy.energy`.
        backend: the backend name.
        q: relaxed mask / marginals for backends that produce one, else None.
        info: backend-specific extras (iterations, flags, timings…); also readable as
            attributes, e.g. ``result.iterations``.
    """

    mask: Any
    energy: Any
    backend: str
    q: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        info = self.__dict__.get("info", {})
        if name in info:
            return info[name]
        raise AttributeError(f"SolveResult has no attribute or info key {name!r}")
