"""Backbones by name: build one, load local weights into it, optionally freeze it."""

from __future__ import annotations

import inspect
import os
from typing import Any

from torch import nn

from .adapters import timm_features, torchvision_features
from .architectures import BUILDERS
from .checkpoints import load_weights
from .freezing import freeze as _freeze


def build_backbone(name: str, **kwargs: object) -> nn.Module:
    """A fresh backbone by name: ``small_cnn``, ``resnet18/34/50``, ``tv:<name>``, ``timm:<name>``.

    ``kwargs`` go to the built-in builders (e.g. ``stages=3``, ``out_channels=128``).
    """
    if name.startswith("tv:"):
        return torchvision_features(name[3:])
    if name.startswith("timm:"):
        return timm_features(name[5:])
    if name not in BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(BUILDERS)}, "
                         f"'tv:<name>' (torchvision) or 'timm:<name>'")
    return BUILDERS[name](**kwargs)


def builder_arguments(name: str, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every argument a built-in backbone ``name`` is built with: its builder's defaults,
    overridden by ``kwargs`` (``kwargs`` as given for ``tv:``/``timm:`` or unknown names).

    A run records these, so that a later change of a default cannot change the
    architecture an old run is rebuilt with.

    Example:
        >>> builder_arguments("small_cnn", {"width": 16})["width"], "padding_mode" in builder_arguments("small_cnn")
        (16, True)
    """
    kwargs = dict(kwargs or {})
    builder = BUILDERS.get(name)
    if builder is None:
        return kwargs
    defaults = {key: param.default for key, param in inspect.signature(builder).parameters.items()
                if param.default is not inspect.Parameter.empty
                and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)}
    return {**defaults, **kwargs}


def load_backbone(name: str, weights: str | os.PathLike | None = None, freeze: bool = False,
                  strict: bool = True, **kwargs: object) -> nn.Module:
    """Build a backbone, load local weights into it, optionally freeze it.

    Args:
        name: ``"small_cnn"``, ``"resnet18"``, ``"resnet34"``, ``"resnet50"``,
            ``"tv:<torchvision name>"`` or ``"timm:<timm name>"`` (need those packages;
            built with ``pretrained=False``).
        weights: a local checkpoint (plain state dict, or under ``"state_dict"`` /
            ``"model"``; ``module.``/``backbone.`` prefixes and classifier keys are
            handled), or ``None`` for random initialisation.
        freeze: no gradients and eval-mode batch norm (see :func:`freeze`).
        strict: see :func:`load_weights`.
        **kwargs: builder arguments (``stages``, ``in_channels``, ``width``, ``out_channels``).

    Returns:
        the backbone, with ``out_channels`` and ``stride`` attributes.

    Raises:
        ValueError: unknown name. ImportError: torchvision/timm missing (with a hint).
        FileNotFoundError, WeightsError: bad weights file.

    Example:
        >>> net = load_backbone("resnet18", stages=2, freeze=True)
        >>> net.out_channels, net.stride, any(p.requires_grad for p in net.parameters())
        (128, 8, False)
    """
    model = build_backbone(name, **kwargs)
    if weights is not None:
        load_weights(model, weights, strict=strict)
    return _freeze(model) if freeze else model


__all__ = ["build_backbone", "load_backbone"]
