"""Freezing a backbone: no gradients, and batch norm / dropout kept in eval mode."""

from __future__ import annotations

from torch import nn


def _stay_in_eval(module: nn.Module, args: tuple) -> None:
    if module.training:
        module.eval()


def freeze(model: nn.Module) -> nn.Module:
    """Freeze ``model``: no parameter gradients, batch norm (and dropout) in eval mode.

    The model stays in eval mode even when a parent module calls ``.train()``: a
    forward pre-hook switches it back before every call. Returns ``model``.
    """
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    model.eval()
    if not getattr(model, "_ersm_frozen", False):
        model.register_forward_pre_hook(_stay_in_eval)
        model._ersm_frozen = True
    return model


__all__ = ["freeze"]
