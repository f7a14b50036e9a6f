"""The metric registry: one shared check over every registered metric, and plug-ins."""

from __future__ import annotations

import pytest
import torch

from ersm.evaluation import EvalSettings, metrics
from ersm.evaluation.batches import Means
from ersm.evaluation.compare import BAR_KEYS
from ersm.evaluation.metrics import Metric, RunContext
from ersm.evaluation.report import HEADLINE

SETTINGS = EvalSettings(levels=(0.1, 0.9))
ALL = metrics.metrics()


def test_smoke():
    assert [m.name for m in ALL] == ["accuracy", "localization", "faithfulness", "occlusion",
                                     "sparsity", "cost"]
    assert metrics.get("faithfulness").title == "Faithfulness (AUC)"


@pytest.mark.parametrize("metric", ALL, ids=lambda m: m.name)
def test_metric_contract(metric):
    """Keys are owned, unique, cover headline and bars; flags are well formed; the section
    renders on an all-undefined result."""
    keys = metric.keys(SETTINGS)
    assert keys and len(set(keys)) == len(keys)
    assert all(metric.owns(k) for k in keys), [k for k in keys if not metric.owns(k)]
    assert set(metric.headline) <= set(keys) and set(metric.bars) <= set(keys)
    assert metric.needs <= metrics.NEEDS
    assert metric.higher_is_better in (True, False, None)
    assert all(metric.better(k) in (True, False, None) for k in keys)
    empty = metric.compute(Means(), RunContext(SETTINGS, has_layer=False, tokens=4))
    assert set(empty) <= set(keys) and all(v is None for v in empty.values())
    if metric.title is not None:
        body = metric.section({k: None for k in keys}, SETTINGS.to_dict())
        assert isinstance(body, str) and "|" in body


def test_keys_are_owned_by_one_metric():
    owners: dict[str, str] = {}
    for metric in ALL:
        for key in metric.keys(SETTINGS):
            assert key not in owners, (key, owners.get(key), metric.name)
            owners[key] = metric.name
            assert metrics.owner(key) is metric


def test_headline_and_bars_come_from_the_registry():
    assert HEADLINE == metrics.headline_keys() and BAR_KEYS == metrics.bar_keys()
    assert HEADLINE[:3] == ("accuracy", "accuracy.solved", "accuracy.background_mismatch")
    assert BAR_KEYS == ("accuracy", "accuracy.solved", "iou.solved", "iou.learned",
                        "occlusion.roi_only", "occlusion.roi_masked", "sparsity.active_fraction")


def test_better_directions():
    f = metrics.get("faithfulness")
    assert f.better("deletion_auc.feature.energy") is False
    assert f.better("insertion_auc.pixel.mask") is True
    assert metrics.get("cost").better("cost.time_ms.model") is False


class Tokens(Metric):
    """A plug-in: the number of tokens, reported as ``tokens.count``."""

    name = "tokens"
    prefixes = ("tokens",)
    title = "Tokens"

    def keys(self, settings):
        return ["tokens.count"]

    def update(self, means, ctx):
        means.add("tokens.count", torch.full((ctx.batch.images.shape[0],), 1.0 * ctx.grid[0]))

    def compute(self, means, ctx):
        return {"tokens.count": float(ctx.tokens)}

    def section(self, metrics_, settings):
        return f"| tokens | {metrics_.get('tokens.count')} |\n"


@pytest.fixture
def plugin():
    metric = metrics.register(Tokens())
    yield metric
    metrics.unregister("tokens")


def test_plugin_is_computed_and_reported(plugin):
    means = Means()
    means.add("accuracy", torch.ones(2, dtype=torch.float64))
    out = metrics.compute_all(means, RunContext(SETTINGS, has_layer=False, tokens=9))
    assert out["tokens.count"] == 9.0 and out["accuracy"] == 1.0
    assert list(out)[-1] == "tokens.count"  # order 100: after the built-ins
    assert ("Tokens", "| tokens | 9.0 |\n") in metrics.sections(out, SETTINGS.to_dict())
    assert "tokens" in metrics.versions()


def test_exception():
    with pytest.raises(ValueError, match="already registered"):
        metrics.register(metrics.get("accuracy"))
    with pytest.raises(TypeError, match="must be a Metric instance"):
        metrics.register(object())
    with pytest.raises(KeyError, match="unknown metric 'nope'; registered"):
        metrics.get("nope")

    class Needy(Tokens):
        name = "needy"
        needs = frozenset({"gpu"})

    with pytest.raises(ValueError, match="needs must be a subset of"):
        metrics.register(Needy())


def test_an_undeclared_key_is_not_dropped_silently():
    means = Means()
    means.add("accuracy.per_class", torch.ones(1, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"no metric reports: \['accuracy.per_class'\]"):
        metrics.compute_all(means, RunContext(SETTINGS, has_layer=False, tokens=4))

    class Leaky(Tokens):
        name = "leaky"

        def compute(self, means, ctx):
            return {"tokens.count": 1.0, "tokens.other": 2.0}

    metrics.register(Leaky())
    try:
        with pytest.raises(ValueError, match="computed keys missing from its keys"):
            metrics.compute_all(Means(), RunContext(SETTINGS, has_layer=False, tokens=4))
    finally:
        metrics.unregister("leaky")


def test_internal_keys_are_allowed():
    means = Means()
    means.add("curve.deletion.feature.energy", torch.ones(1, 3, dtype=torch.float64))
    means.add("histogram.keep_prob", torch.ones(1, 10, dtype=torch.float64))
    settings = EvalSettings(steps=2)
    out = metrics.compute_all(means, RunContext(settings, has_layer=True, tokens=4))
    assert out["deletion_auc.feature.energy"] == 1.0
