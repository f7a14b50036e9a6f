"""Training recipes: the paper's settings, per-epoch cosine, ``ersm train --recipe``."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

import ersm.train.recipes
from ersm.cli.main import main
from ersm.data import make_synthetic_dataset
from ersm.train import load_config
from ersm.train.config import TrainConfig
from ersm.train.loop import cosine_schedule
from ersm.train.recipes import PAPER, get_recipe, recipe_config


def test_doctests():
    assert doctest.testmod(ersm.train.recipes).failed == 0


def test_paper_recipe_settings():
    config = recipe_config("paper", data="d", out="r")
    assert (config.model, config.freeze, config.weight_decay, config.lr_schedule,
            config.epochs, config.recipe) == ("ersm", True, 1e-4, "cosine_epoch", 20, "paper")
    assert config.layer_kwargs == {"unary_weight": 1e-3, "pairwise_weight": 1e-3,
                                   "temperature": 1.0}


def test_given_values_win_and_layer_kwargs_merge():
    config = recipe_config("paper", data="d", out="r", epochs=3,
                           layer_kwargs={"patch_size": 2, "temperature": 0.5})
    assert config.epochs == 3
    assert config.layer_kwargs == {"unary_weight": 1e-3, "pairwise_weight": 1e-3,
                                   "temperature": 0.5, "patch_size": 2}


def test_layer_settings_only_for_the_recipes_model():
    config = recipe_config("paper", data="d", out="r", model="baseline")
    assert config.layer_kwargs == {} and config.freeze and config.weight_decay == 1e-4


def test_exception():
    with pytest.raises(ValueError, match=r"recipe must be one of \['paper'\], got 'nope'"):
        get_recipe("nope")
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainConfig(data="d", out="r", lr_schedule="linear")


def test_cosine_per_epoch_holds_the_rate_for_an_epoch():
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    scheduler = cosine_schedule(optimizer, total_steps=9, steps_per_value=3)
    rates = []
    for _ in range(9):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    per_epoch = [0.5 * (1 + math.cos(math.pi * e / 3)) for e in range(3)]
    assert rates == pytest.approx([r for r in per_epoch for _ in range(3)])
    # the same values as CosineAnnealingLR(T_max=3) stepped once per epoch
    reference = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    annealing = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=3)
    expected = []
    for _ in range(3):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        annealing.step()
    assert per_epoch == pytest.approx(expected)


def test_cli_recipe_paper(tmp_path, capsys):
    torch.set_num_threads(1)
    data = tmp_path / "data"
    make_synthetic_dataset(data, n=8, seed=1, size=32)
    run = tmp_path / "run"
    code = main(["train", "--recipe", "paper", "--data", str(data), "--out", str(run),
                 "--epochs", "1", "--batch-size", "4", "--image-size", "32", "-q"])
    assert code == 0
    saved = load_config(run)
    assert (saved.recipe, saved.model, saved.freeze, saved.lr_schedule) == (
        "paper", "ersm", True, "cosine_epoch")
    assert main(["train", "--recipe", "nope", "--data", str(data), "--out",
                 str(tmp_path / "x")]) == 2
    assert "recipe must be one of ['paper']" in capsys.readouterr().err
    assert PAPER.name == "paper"
