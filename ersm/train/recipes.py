"""Named training recipes: sets of :class:`~ersm.train.TrainConfig` settings (``--recipe``).

- ``"paper"`` (:data:`PAPER`): the training of the ERSM paper's released code (arXiv
  2604.06893): the ERSM layer on a frozen backbone, AdamW with weight decay 1e-4, a cosine
  learning rate stepped once per epoch, 20 epochs, ``λ = γ = 1e-3``, ``T = 1``.

A recipe fills in the settings the caller did not give: explicit values win, and
``layer_kwargs`` are merged key by key. Its layer settings apply only to its own model
(``"ersm"`` for the paper); the other models (e.g. the baseline it is compared with) get
only the training settings. The chosen name is stored in the run's ``config.json``
(``recipe``).

What the paper recipe does not fix: the learning rate and batch size (not stated in the
released README; ours stay at their defaults, ``lr = 1e-3``), and the backbone's weights:
the paper freezes an ImageNet-pretrained torchvision network; ersm never downloads, so pass
a local checkpoint with ``--weights`` (a frozen *random* backbone is what you get
otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..runs.config import TrainConfig


@dataclass(frozen=True)
class Recipe:
    """A named set of training settings.

    Attributes:
        name: the ``--recipe`` name.
        summary: one line for ``--help`` and the docs.
        settings: :class:`TrainConfig` fields (``layer_kwargs`` excluded).
        layer_model: the model the layer settings belong to.
        layer_kwargs: mask-layer arguments for ``layer_model``.
    """

    name: str
    summary: str
    settings: Mapping[str, Any]
    layer_model: str
    layer_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` TrainConfig fields completed by this recipe (given values win).

        Example:
            >>> PAPER.apply({"data": "d", "out": "r", "epochs": 3})["epochs"]
            3
            >>> PAPER.apply({"data": "d", "out": "r"})["layer_kwargs"]["pairwise_weight"]
            0.001
        """
        out = {**self.settings, **given, "recipe": self.name}
        model = out.get("model", TrainConfig.__dataclass_fields__["model"].default)
        layer = dict(given.get("layer_kwargs") or {})
        if model == self.layer_model:
            layer = {**self.layer_kwargs, **layer}
        if layer:
            out["layer_kwargs"] = layer
        return out


PAPER = Recipe(
    name="paper",
    summary="the ERSM paper's training: ersm layer, frozen backbone, AdamW wd 1e-4, "
            "per-epoch cosine, 20 epochs, lambda = gamma = 1e-3, T = 1",
    settings=MappingProxyType({"model": "ersm", "freeze": True, "weight_decay": 1e-4,
                               "lr_schedule": "cosine_epoch", "epochs": 20}),
    layer_model="ersm",
    layer_kwargs=MappingProxyType({"unary_weight": 1e-3, "pairwise_weight": 1e-3,
                                   "temperature": 1.0}),
)
"""The paper's recipe (see the module docstring)."""

RECIPES: Mapping[str, Recipe] = MappingProxyType({PAPER.name: PAPER})
"""Every recipe by name."""


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; ``ValueError`` naming the known ones otherwise."""
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {name!r}")
    return RECIPES[name]


def recipe_config(name: str, **given: Any) -> TrainConfig:
    """A :class:`TrainConfig` from recipe ``name`` and the fields ``given``.

    Example:
        >>> config = recipe_config("paper", data="data", out="run")
        >>> config.model, config.freeze, config.weight_decay, config.lr_schedule, config.epochs
        ('ersm', True, 0.0001, 'cosine_epoch', 20)
    """
    return TrainConfig(**get_recipe(name).apply(given))


__all__ = ["PAPER", "RECIPES", "Recipe", "get_recipe", "recipe_config"]
