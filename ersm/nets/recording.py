"""The mask layers' base class: it records the output of its last forward pass."""

from __future__ import annotations

from typing import Any

from torch import nn


def last_output(layer: nn.Module) -> Any:
    """``layer.last`` (the output of its last forward pass); ``RuntimeError`` before one."""
    if layer.last is None:
        raise RuntimeError(f"{type(layer).__name__} has not run forward yet")
    return layer.last


def from_last(name: str, doc: str) -> property:
    """A read-only layer property: attribute ``name`` of :func:`last_output`."""
    return property(lambda layer: getattr(last_output(layer), name), doc=doc)


class RecordingLayer(nn.Module):
    """Base of the mask layers: ``last`` holds the output of the last forward pass (with its
    autograd graph, for the regulariser); it is left out of copies and pickles."""

    def __init__(self) -> None:
        super().__init__()
        self.last: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "last": None}


__all__ = ["RecordingLayer", "from_last", "last_output"]
