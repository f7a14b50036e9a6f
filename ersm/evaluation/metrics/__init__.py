"""The evaluation metrics, one module each, found through a small registry.

Every module of this package whose name does not start with ``_`` defines ``METRIC``, an
instance of a :class:`Metric` subclass; it is registered when the package is imported,
under its ``name`` (the file name). :func:`metrics` lists them in ``order``; the
evaluation (``evaluate.scalar_results``, ``batch_metrics.evaluate_batch``), the report
(``report.HEADLINE`` and the sections) and the comparison (``compare.BAR_KEYS``) read
this list only, so adding a metric is adding one module (and its test). A user's metric
can be added at run time with :func:`register`.

Example:
    >>> from ersm.evaluation.metrics import get, metrics
    >>> [m.name for m in metrics()]
    ['accuracy', 'localization', 'faithfulness', 'occlusion', 'sparsity', 'cost']
    >>> get("accuracy").higher_is_better
    True
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any

from ._base import NEEDS, BatchContext, Draws, Metric, RunContext

_REGISTRY: dict[str, Metric] = {}


def register(metric: Metric, replace: bool = False) -> Metric:
    """Add ``metric`` to the registry (``replace``: allow overwriting its name).

    Raises:
        TypeError: ``metric`` is not a :class:`Metric`.
        ValueError: no name, a taken name, or unknown ``needs``.
    """
    if not isinstance(metric, Metric):
        raise TypeError(f"metric must be a Metric instance, got {type(metric).__name__}")
    if not metric.name:
        raise ValueError("metric.name must be a non-empty string")
    if metric.name in _REGISTRY and not replace:
        raise ValueError(f"metric {metric.name!r} is already registered (pass replace=True)")
    bad = sorted(set(metric.needs) - NEEDS)
    if bad:
        raise ValueError(f"metric {metric.name!r}: needs must be a subset of {sorted(NEEDS)}, "
                         f"got {bad}")
    _REGISTRY[metric.name] = metric
    return metric


def unregister(name: str) -> None:
    """Remove a metric (e.g. a test's plug-in)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> Metric:
    """The registered metric ``name``.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; registered: {sorted(_REGISTRY)}") from None


def metrics() -> list[Metric]:
    """Registered metrics by ``order`` (then name)."""
    return sorted(_REGISTRY.values(), key=lambda m: (m.order, m.name))


def headline_keys() -> tuple[str, ...]:
    """Every metric's ``headline`` keys, in metric order."""
    return tuple(k for m in metrics() for k in m.headline)


def bar_keys() -> tuple[str, ...]:
    """Every metric's ``bars`` keys, in metric order."""
    return tuple(k for m in metrics() for k in m.bars)


def versions() -> dict[str, int]:
    """``{name: version}`` of the registered metrics (stored with results; a cached
    evaluation is reused only when they match)."""
    return {m.name: m.version for m in metrics()}


def update_all(means: Any, ctx: BatchContext) -> None:
    """Every metric's :meth:`~Metric.update` whose ``needs`` this batch has."""
    for metric in metrics():
        if all(ctx.has(need) for need in metric.needs):
            metric.update(means, ctx)


def compute_all(means: Any, ctx: RunContext) -> dict[str, Any]:
    """Every metric's values, in metric order.

    Raises:
        ValueError: a metric returned keys it does not declare, or a key was accumulated
            that no metric reports (it would be silently dropped).
    """
    out: dict[str, Any] = {}
    for metric in metrics():
        declared = metric.keys(ctx.settings)
        values = metric.compute(means, ctx)
        extra = sorted(set(values) - set(declared))
        if extra:
            raise ValueError(f"metric {metric.name!r} computed keys missing from its keys(): "
                             f"{extra}")
        out.update({key: values.get(key) for key in declared})
    internal = tuple(p for m in metrics() for p in m.internal)
    dropped = sorted(k for k in means.sums if k not in out
                     and not any(k == p or k.startswith(p + ".") for p in internal))
    if dropped:
        raise ValueError(f"accumulated keys that no metric reports: {dropped}; add them to "
                         "the owning metric's keys() (or its internal prefixes)")
    return out


def owner(key: str) -> Metric | None:
    """The metric whose ``prefixes`` cover ``key`` (None if none)."""
    return next((m for m in metrics() if m.owns(key)), None)


def sections(metrics_: Mapping[str, Any], settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(title, markdown body)`` of every metric with a section, by ``report_order``."""
    out = []
    for metric in sorted(metrics(), key=lambda m: (m.report_order, m.name)):
        body = None if metric.title is None else metric.section(metrics_, settings)
        if body is not None:
            out.append((metric.title, body))
    return out


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        metric = getattr(module, "METRIC", None)
        if not isinstance(metric, Metric):
            raise TypeError(f"{module.__name__} must define METRIC, a Metric instance")
        if metric.name != info.name:
            raise ValueError(f"{module.__name__}: METRIC.name must be the file name "
                             f"{info.name!r}, got {metric.name!r}")
        register(metric)


_discover()

__all__ = ["BatchContext", "Draws", "Metric", "NEEDS", "RunContext", "bar_keys", "compute_all",
           "get", "headline_keys", "metrics", "owner", "register", "sections", "unregister",
           "update_all", "versions"]
