"""``EvalSettings``: how a run is evaluated (stored with its results)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from .attribution import CAPTUM_METHODS
from .deletion import CURVES, DEFAULT_FILL, MODES
from .occlusion import LEVELS
from ..solvers.defaults import DEFAULT_EXACT


@dataclass(frozen=True)
class EvalSettings:
    """How a run is evaluated (stored in ``metrics.json``; ``ersm compare`` reuses a cached
    evaluation only when these match).

    Attributes:
        split: ``"train"`` or ``"test"``.
        backend: exact solver for the discrete masks (default ``"graphcut"``).
        modes: removal modes, from ``("feature", "pixel")``.
        curves: from ``("deletion", "insertion")``.
        seeds: random orders averaged for the ``random`` ranking (seeds ``0 … seeds−1``).
        steps: points per curve minus one.
        feature_fill: ``"zero"`` or ``"mean"`` (feature mode).
        pixel_fill: ``"blur"``, ``"mean"`` or ``"zero"`` (pixel mode).
        batch_size: images per batch.
        limit: evaluate ``limit`` images spread evenly over the split (None: all).
        levels: occlusion levels.
        panels: images in the mask panels.
        landscape: images in the energy-landscape view.
        seed: seed of the occlusion boxes and landscape samples.
        device: torch device.
        attributions: extra rankings from Captum, from ``("integrated_gradients",
            "saliency", "occlusion")`` (default none; needs ``pip install 'ersm[captum]'``).
        keep_ratio: solved masks of about ``keep_ratio·h·w`` tokens per image (the exact
            cut of the nested keep-cost path closest to that size); None: the run's own
            ``keep_ratio`` if its layer has one, else the plain cut.
    """

    split: str = "test"
    backend: str = DEFAULT_EXACT
    modes: tuple[str, ...] = MODES
    curves: tuple[str, ...] = CURVES
    seeds: int = 3
    steps: int = 16
    feature_fill: str = DEFAULT_FILL["feature"]
    pixel_fill: str = DEFAULT_FILL["pixel"]
    batch_size: int = 32
    limit: int | None = None
    levels: tuple[float, ...] = LEVELS
    panels: int = 6
    landscape: int = 3
    seed: int = 0
    device: str = "cpu"
    attributions: tuple[str, ...] = ()
    keep_ratio: float | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("modes", MODES), ("curves", CURVES)):
            values = tuple(getattr(self, name))
            bad = sorted(set(values) - set(allowed))
            if bad or not values:
                raise ValueError(f"{name} must be a non-empty subset of {allowed}, got {values}")
            object.__setattr__(self, name, values)
        object.__setattr__(self, "levels", tuple(float(v) for v in self.levels))
        attributions = tuple(self.attributions)
        bad = sorted(set(attributions) - set(CAPTUM_METHODS))
        if bad or len(set(attributions)) != len(attributions):
            raise ValueError(f"attributions must be distinct names from {CAPTUM_METHODS}, "
                             f"got {attributions}")
        object.__setattr__(self, "attributions", attributions)
        if self.seeds < 1 or self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"seeds, steps and batch_size must be >= 1, got {self.seeds}, "
                             f"{self.steps}, {self.batch_size}")
        if self.keep_ratio is not None and not 0.0 <= self.keep_ratio <= 1.0:
            raise ValueError(f"keep_ratio must be in [0, 1] or None, got {self.keep_ratio}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1 or None, got {self.limit}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (tuples as lists; ``attributions`` only when set, so results of
        the default settings are unchanged)."""
        out = json.loads(json.dumps(dataclasses.asdict(self)))
        if not out["attributions"]:
            del out["attributions"]
        return out


__all__ = ["EvalSettings"]
