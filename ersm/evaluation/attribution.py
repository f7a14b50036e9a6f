"""Token importance for any ``nn.Module`` at a target layer (Captum's convention).

A *target layer* is a submodule whose output ``A`` ``(B, C, H, W)`` the importance is
about (Captum's ``LayerGradCam(model, layer)``); for a :class:`~ersm.nets.MaskedClassifier`
it is ``model.backbone`` (the mask layer's input). :class:`LayerView` runs the model once,
keeps ``A`` and gives ``head(A')``: the model's logits with the layer's output replaced by
``A'`` (a forward hook), so every attribution works on the activation itself.

- :func:`layer_gradcam`: Grad-CAM ``Σ_c α_c A_c`` with ``α_c = mean ∂ logit_target / ∂ A_c``;
- :func:`attribution_map`: Captum's ``IntegratedGradients`` (zero baseline),
  ``Saliency`` (absolute gradient) and ``Occlusion`` (one token patch of every channel set
  to zero, stride one token) on ``A``, summed over channels. Captum is optional
  (``pip install 'ersm[captum]'``);
- :func:`token_scores` pools any of them to tokens ``(B, ⌈H/p⌉, ⌈W/p⌉)``, higher = more
  important, ready for :func:`~ersm.evaluation.rankings.ranks`, the deletion / insertion
  curves (:func:`~ersm.evaluation.deletion.model_curve`) and the localization metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..core.optional import require
from ..nets.energy_mask import pool_tokens

CAPTUM_METHODS: tuple[str, ...] = ("integrated_gradients", "saliency", "occlusion")
"""Attribution rankings provided by Captum (``EvalSettings.attributions``)."""

METHODS: tuple[str, ...] = ("gradcam", "magnitude", *CAPTUM_METHODS)
"""Every method of :func:`token_scores`."""


@dataclass
class LayerView:
    """A model seen from one of its layers.

    Attributes:
        activation: ``(B, C, H, W)`` the target layer's output on the inputs (detached).
        head: ``A' (n·B, C, H, W) → logits (n·B, K)``: the model with the layer output
            replaced (the inputs are repeated ``n`` times, batch-major as in
            ``x.repeat(n, 1, 1, 1)``, the layout Captum uses for its expanded batches).
    """

    activation: torch.Tensor
    head: Callable[[torch.Tensor], torch.Tensor]


def layer_view(model: nn.Module, inputs: torch.Tensor, layer: nn.Module | None = None,
               head: Callable[[torch.Tensor], torch.Tensor] | None = None) -> LayerView:
    """The :class:`LayerView` of ``model`` at ``layer`` on ``inputs``.

    Args:
        model: any module mapping ``inputs`` to logits ``(B, K)``.
        inputs: ``(B, ...)`` model inputs.
        layer: a submodule of ``model`` whose output is a tensor ``(B, C, H, W)``; None:
            ``inputs`` already are the activation and ``head`` (default ``model``) maps
            them to logits.
        head: a faster map from the activation to logits when known (e.g.
            :func:`~ersm.evaluation.probe.classify_features` for a ``MaskedClassifier``).

    Raises:
        TypeError: ``layer`` is not a submodule of ``model``, or its output is no 4-d tensor.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        >>> view = layer_view(net, torch.rand(2, 3, 8, 8), net[1])
        >>> view.activation.shape, view.head(view.activation).shape
        (torch.Size([2, 4, 8, 8]), torch.Size([2, 2]))
    """
    if layer is None:
        return LayerView(inputs.detach(), head or model)
    if not any(m is layer for m in model.modules()):
        raise TypeError(f"layer must be a submodule of model, got {type(layer).__name__} "
                        f"outside {type(model).__name__}")
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        handle.remove()
    if not captured or not isinstance(captured[0], torch.Tensor) or captured[0].ndim != 4:
        raise TypeError("layer must return a (B, C, H, W) tensor, got "
                        f"{type(captured[0]).__name__ if captured else 'nothing'}")
    activation = captured[0].detach()
    if head is not None:
        return LayerView(activation, head)
    batch = inputs.shape[0]

    def replaced(a: torch.Tensor) -> torch.Tensor:
        n = a.shape[0] // max(batch, 1)
        handle = layer.register_forward_hook(lambda _m, _i, _out: a)
        try:
            return model(inputs.repeat(n, *([1] * (inputs.ndim - 1))))
        finally:
            handle.remove()

    return LayerView(activation, replaced)


def layer_gradcam(view: LayerView, target: torch.Tensor, relu: bool = True) -> torch.Tensor:
    """Grad-CAM ``(B, H, W)`` of ``view.head`` at its activation (detached).

    Args:
        view: from :func:`layer_view`.
        target: ``(B,)`` int64 classes whose logit is explained.
        relu: apply Grad-CAM's final ReLU (off: the signed map, used for ranking).
    """
    inputs = view.activation.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        chosen = view.head(inputs).gather(1, target.view(-1, 1)).sum()
        (grads,) = torch.autograd.grad(chosen, inputs)
    cam = (grads.mean(dim=(-2, -1), keepdim=True) * inputs.detach()).sum(1)
    return cam.clamp(min=0) if relu else cam


def attribution_map(method: str, view: LayerView, target: torch.Tensor, patch: int = 1,
                    steps: int = 16) -> torch.Tensor:
    """A Captum attribution of ``view.head`` at its activation, summed over channels.

    Args:
        method: one of :data:`CAPTUM_METHODS`.
        view: from :func:`layer_view`.
        target: ``(B,)`` int64 classes whose logit is explained.
        patch: token side in activation cells (the occlusion window and stride).
        steps: integration steps of ``integrated_gradients``.

    Returns:
        ``(B, H, W)`` float, detached, higher = more important.

    Raises:
        ValueError: unknown ``method``. ImportError: Captum is not installed.
    """
    if method not in CAPTUM_METHODS:
        raise ValueError(f"method must be one of {CAPTUM_METHODS}, got {method!r}")
    attr = require("captum.attr", extra="captum")
    x = view.activation.detach().clone()
    target = target.view(-1)
    with torch.enable_grad():
        if method == "integrated_gradients":
            out = attr.IntegratedGradients(view.head).attribute(
                x, baselines=torch.zeros_like(x), target=target, n_steps=steps,
                method="gausslegendre")
        elif method == "saliency":
            out = attr.Saliency(view.head).attribute(x.requires_grad_(True), target=target,
                                                     abs=True)
        else:
            channels = x.shape[1]
            out = attr.Occlusion(view.head).attribute(
                x, sliding_window_shapes=(channels, patch, patch),
                strides=(channels, patch, patch), baselines=0.0, target=target)
    return out.detach().sum(1)


def token_scores(method: str, model: nn.Module, inputs: torch.Tensor, target: torch.Tensor,
                 layer: nn.Module | None = None, patch: int = 1,
                 head: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 steps: int = 16) -> torch.Tensor:
    """Token importance ``(B, ⌈H/p⌉, ⌈W/p⌉)`` of any model at a target layer.

    Args:
        method: one of :data:`METHODS` (``gradcam``: signed, before the ReLU;
            ``magnitude``: L2 norm of the activation over channels).
        model: any module mapping ``inputs`` to logits ``(B, K)``.
        inputs: ``(B, ...)``; with ``layer=None`` the activation itself.
        target: ``(B,)`` int64 classes (unused by ``magnitude``).
        layer: the target layer (see :func:`layer_view`).
        patch: activation cells per token side (average-pooled).
        head: see :func:`layer_view`.
        steps: integration steps of ``integrated_gradients``.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        >>> token_scores("gradcam", net, torch.rand(2, 3, 8, 8), torch.tensor([0, 1]),
        ...              layer=net[1], patch=2).shape
        torch.Size([2, 4, 4])
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    view = layer_view(model, inputs, layer, head)
    if method == "magnitude":
        return pool_tokens(view.activation, patch).norm(dim=1)
    if method == "gradcam":
        cell = layer_gradcam(view, target, relu=False)
    else:
        cell = attribution_map(method, view, target, patch, steps)
    return pool_tokens(cell[:, None], patch)[:, 0]


__all__ = ["CAPTUM_METHODS", "LayerView", "METHODS", "attribution_map", "layer_gradcam",
           "layer_view", "token_scores"]
