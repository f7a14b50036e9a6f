"""What the mask layer costs at inference: FLOPs and wall time against the model without it.

- FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode`, which counts matrix
  products and convolutions (a multiply-add = 2 FLOPs). Elementwise work, and solvers that
  run outside torch (Numba graph cut, NumPy mean-field), are **not** counted: for those the
  wall time is the honest measure.
- Times are medians over ``repeats`` calls after one warm-up, per image, in milliseconds,
  on the current torch thread setting.
- ``time_ms.solve`` re-solves the layer's token energy with the evaluation ``backend``.

Keys (``cost.`` prefixed in ``metrics.json``): ``flops.model``, ``flops.without_layer``,
``flops.extra``, ``flops.extra_fraction``, ``time_ms.model``, ``time_ms.without_layer``,
``time_ms.extra``, ``time_ms.solve``; layer-dependent ones are None without a layer.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..nets.classifier import classify_features
from ..solvers.api import solve
from .probe import probe
from ..solvers.defaults import DEFAULT_EXACT


def count_flops(fn: Callable[..., Any], *args: Any) -> int:
    """FLOPs (matmuls and convolutions) of ``fn(*args)`` under ``torch.no_grad``.

    Example:
        >>> count_flops(nn.Linear(3, 2), torch.zeros(5, 3))
        60
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args)
    return int(counter.get_total_flops())


def median_seconds(fn: Callable[..., Any], *args: Any, repeats: int = 5) -> float:
    """Median wall time of ``fn(*args)`` over ``repeats`` calls after one warm-up."""
    with torch.no_grad():
        fn(*args)
        times = []
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            fn(*args)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def without_layer(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model with its mask layer taken out: backbone, pooling, head."""
    return lambda images: classify_features(model, model.backbone(images), use_layer=False)


def layer_cost(model: nn.Module, images: torch.Tensor, backend: str = DEFAULT_EXACT,
               repeats: int = 5) -> dict[str, float | None]:
    """FLOPs and times per image of ``model`` with and without its layer (see module docs).

    Args:
        model: a :class:`~ersm.nets.MaskedClassifier` in eval mode.
        images: ``(B, 3, S, S)`` a representative batch.
        backend: solver timed on the layer's token energy.
        repeats: timed calls per measurement.

    Returns:
        the ``cost`` keys without the ``cost.`` prefix.
    """
    n = max(1, images.shape[0])
    bare = without_layer(model)
    flops = count_flops(model, images) / n
    flops_bare = count_flops(bare, images) / n
    ms = 1e3 * median_seconds(model, images, repeats=repeats) / n
    ms_bare = 1e3 * median_seconds(bare, images, repeats=repeats) / n
    has_layer = model.layer is not None
    solve_ms = None
    if has_layer:
        energy = probe(model, images).energy
        solve_ms = 1e3 * median_seconds(lambda: solve(energy, backend=backend),
                                        repeats=repeats) / n
    return {"flops.model": flops, "flops.without_layer": flops_bare,
            "flops.extra": flops - flops_bare if has_layer else None,
            "flops.extra_fraction": (flops - flops_bare) / flops_bare
            if has_layer and flops_bare else None,
            "time_ms.model": ms, "time_ms.without_layer": ms_bare,
            "time_ms.extra": ms - ms_bare if has_layer else None, "time_ms.solve": solve_ms}


__all__ = ["count_flops", "layer_cost", "median_seconds", "without_layer"]
