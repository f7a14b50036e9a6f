"""``SolveResult`` (binary) and ``PottsResult`` (multi-label): what ``ersm.solve`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class _InfoAttributes:
    """``info`` keys readable as attributes (``result.iterations``)."""

    def __getattr__(self, name: str) -> Any:
        info = self.__dict__.get("info", {})
        if name in info:
            return info[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or info key {name!r}")


@dataclass
class SolveResult(_InfoAttributes):
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


@dataclass
class PottsResult(_InfoAttributes):
    """Result of ``ersm.solve`` for a :class:`~ersm.PottsEnergy`.

    Attributes:
        labels: ``(B, H, W)`` (or ``(H, W)``) int64 labels in ``[0, L)``, same array type
            and device as the energy's arrays.
        energy: ``(B,)`` (or ``()``) float64 energy of ``labels``
            (:meth:`PottsEnergy.energy`).
        backend: the backend name.
        q: ``(B, L, H, W)`` (or ``(L, H, W)``) marginals for backends that produce them
            (``meanfield``), else None.
        info: backend-specific extras, also readable as attributes.
    """

    labels: Any
    energy: Any
    backend: str
    q: Any = None
    info: dict[str, Any] = field(default_factory=dict)
