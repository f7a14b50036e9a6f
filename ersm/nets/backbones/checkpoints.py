"""Backbone weights from local files: reading, key clean-up, loading with clear errors.

Weights only ever come from local files (``torch.load(weights_only=True)``); nothing is
downloaded.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .adapters import LastFeature

STRIP_PREFIXES: tuple[str, ...] = ("module.", "backbone.", "encoder.", "features.")
CLASSIFIER_PREFIXES: tuple[str, ...] = ("fc.", "classifier.", "head.", "heads.", "last_linear.")
EXTRA_STATE_SUFFIX = "_extra_state"


class WeightsError(ValueError):
    """A checkpoint is not a readable state dict, or its names or shapes do not fit the model."""


def _strip(key: str, prefixes: tuple[str, ...],
           expected: set[str] | frozenset = frozenset()) -> str:
    """Strip ``prefixes`` one at a time until the key is one of ``expected`` (or none is left)."""
    stripped = True
    while stripped and key not in expected:
        stripped = False
        for prefix in prefixes:
            if key.startswith(prefix):
                key, stripped = key[len(prefix):], True
                break
    return key


def clean_state_dict(state: Mapping[str, torch.Tensor],
                     expected: set[str] | None = None) -> dict[str, torch.Tensor]:
    """Normalise checkpoint keys: strip wrapper prefixes, drop classifier weights.

    Prefixes ``module.`` (DataParallel), ``backbone.``, ``encoder.`` and ``features.``
    are stripped, one at a time, until the key is one of ``expected`` (so
    ``backbone.features.0.weight`` becomes :class:`SmallCNN`'s ``features.0.weight``); keys
    starting with ``fc.``, ``classifier.``, ``head.`` ... are dropped.

    Args:
        state: parameter name → tensor.
        expected: the model's own keys (so e.g. ``features.0.weight`` of
            :class:`SmallCNN` is kept as is).

    Returns:
        a new dict.
    """
    expected = expected or set()
    out = {}
    for key, value in state.items():
        name = _strip(key, STRIP_PREFIXES, expected)
        if not name.startswith(CLASSIFIER_PREFIXES) or name in expected:
            out[name] = value
    return out


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a checkpoint's state dict with ``torch.load(weights_only=True)`` on the CPU.

    Accepts a plain state dict or a dict holding it under ``"state_dict"`` or ``"model"``
    (e.g. an ersm training checkpoint); modules' extra state (``*._extra_state``, options
    rather than weights) is left out.

    Raises:
        FileNotFoundError: no such file.
        WeightsError: the file is unreadable or holds no state dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise WeightsError(f"cannot read {path} with torch.load(weights_only=True): {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    if isinstance(loaded, Mapping):  # modules' options (get_extra_state) are not weights
        loaded = {k: v for k, v in loaded.items() if not str(k).endswith(EXTRA_STATE_SUFFIX)}
    if not (isinstance(loaded, Mapping)
            and all(isinstance(v, torch.Tensor) for v in loaded.values())):
        raise WeightsError(f"{path} holds no state dict of tensors (got {type(loaded).__name__}); "
                                   f"expected a state dict or a dict with 'state_dict' or 'model'")
    return dict(loaded)


def _listing(keys: list[str], limit: int = 8) -> str:
    return ", ".join(keys[:limit]) + (f" ... ({len(keys)} in all)" if len(keys) > limit else "")


def load_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> nn.Module:
    """Load a local checkpoint into ``model`` (:func:`read_state_dict`, :func:`clean_state_dict`).

    Args:
        model: the backbone.
        path: a ``.pt``/``.pth`` file written with ``torch.save``.
        strict: raise on missing or unexpected keys; with ``False`` they are reported in
            a warning and the matching tensors are loaded. Shape mismatches always raise.

    Returns:
        ``model`` (for a timm backbone, the weights go into the wrapped network).

    Raises:
        WeightsError: names the missing, unexpected and mis-shaped keys.
    """
    target = model.model if isinstance(model, LastFeature) else model  # timm: the inner names
    own = target.state_dict()
    state = clean_state_dict(read_state_dict(path), set(own))
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in state if k not in own)
    shapes = sorted(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                    for k in state if k in own and state[k].shape != own[k].shape)
    found = (("shape mismatch (file vs model)", shapes), ("missing", missing),
             ("unexpected", unexpected))
    problems = "; ".join(f"{label}: {_listing(keys)}" for label, keys in found if keys)
    if shapes or (strict and problems):
        raise WeightsError(f"weights in {path} do not fit {type(target).__name__}; {problems}")
    if problems:
        warnings.warn(f"loading {path} into {type(target).__name__}: {problems}", stacklevel=2)
    target.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return model


__all__ = ["CLASSIFIER_PREFIXES", "STRIP_PREFIXES", "WeightsError", "clean_state_dict",
           "load_weights", "read_state_dict"]
