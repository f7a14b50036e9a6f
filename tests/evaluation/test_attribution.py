"""Rankings and curves of any nn.Module at a target layer, and the Captum baselines."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch
from torch import nn

from ersm.evaluation import EvalSettings, evaluate_run
from ersm.evaluation.attribution import (CAPTUM_METHODS, attribution_map, layer_gradcam,
                                         layer_view, token_scores)
from ersm.evaluation.deletion import auc, curve, model_curve
from ersm.evaluation.probe import classify_features, tokens_to_cells
from ersm.evaluation.rankings import gradcam, ranks
from eval_helpers import EVIDENCE, evidence_batch, evidence_model

needs_captum = pytest.mark.skipif(importlib.util.find_spec("captum") is None,
                                  reason="captum not installed (pip install 'ersm[captum]')")


def plain_cnn(seed: int = 0) -> nn.Sequential:
    """A classifier with no ersm parts: conv, ReLU (the target layer), pool, linear."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3)).eval()


def test_smoke():
    net, x = plain_cnn(), torch.rand(2, 3, 8, 8)
    view = layer_view(net, x, net[1])
    assert view.activation.shape == (2, 4, 8, 8)
    torch.testing.assert_close(view.head(view.activation), net(x))
    twice = view.head(torch.cat([view.activation, torch.zeros_like(view.activation)]))
    assert twice.shape == (4, 3)  # inputs repeated batch-major, as Captum expands them
    torch.testing.assert_close(twice[:2], net(x))
    assert not net[1]._forward_hooks  # hooks removed


def test_exception():
    net, x = plain_cnn(), torch.rand(1, 3, 8, 8)
    with pytest.raises(TypeError, match="layer must be a submodule of model"):
        layer_view(net, x, nn.ReLU())
    with pytest.raises(TypeError, match=r"layer must return a \(B, C, H, W\) tensor"):
        layer_view(net, x, net[4])
    with pytest.raises(ValueError, match="method must be one of"):
        token_scores("lime", net, x, torch.tensor([0]), layer=net[1])
    with pytest.raises(ValueError, match=r"scores must have shape \(1, h, w\)"):
        model_curve(net, x, torch.tensor([0]), torch.rand(2, 4, 4))
    with pytest.raises(ValueError, match="attributions must be distinct names"):
        EvalSettings(attributions=("lime",))


def test_gradcam_at_a_layer_matches_the_hand_computation():
    """Grad-CAM of a plain CNN = Σ_c mean(∂ logit / ∂ A_c) A_c, computed directly."""
    net, x, y = plain_cnn(), torch.rand(2, 3, 8, 8), torch.tensor([2, 0])
    a = net[:2](x).detach().requires_grad_(True)
    logits = net[2:](a)
    (g,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), a)
    expected = (g.mean((-2, -1), keepdim=True) * a).sum(1).detach()
    torch.testing.assert_close(gradcam(net, x, y, relu=False, layer=net[1]), expected)
    torch.testing.assert_close(token_scores("gradcam", net, x, y, layer=net[1], patch=2),
                               nn.functional.avg_pool2d(expected[:, None], 2)[:, 0])


def test_module_gradcam_of_a_masked_classifier_at_its_backbone():
    """Target layer = backbone reproduces the run-folder Grad-CAM on the layer inputs."""
    model, (x, y) = evidence_model(), evidence_batch()
    torch.testing.assert_close(gradcam(model, x, y, layer=model.backbone), gradcam(model, x, y))


def test_model_curve_at_a_layer_equals_feature_mode():
    model, (x, y) = evidence_model(layer=False), evidence_batch()
    scores = torch.zeros(2, 4, 4)
    scores[:, EVIDENCE[0], EVIDENCE[1]] = 1.0
    got = model_curve(model, x, y, scores, layer=model.backbone, steps=4)
    want = curve(lambda f: classify_features(model, f), x, torch.zeros(2, 2, 1, 1),
                 ranks(scores), y, lambda m: tokens_to_cells(m, 1, (4, 4))[:, None],
                 "deletion", 4)
    torch.testing.assert_close(got, want)
    np.testing.assert_allclose(got[1], 0.5)  # evidence removed first
    insertion = model_curve(model, x, y, scores, layer=model.backbone, kind="insertion",
                            steps=4)
    assert auc(insertion.mean(1)) > auc(got.mean(1))


def test_model_curve_in_pixel_space_of_a_plain_cnn():
    net, x = plain_cnn(), torch.rand(3, 3, 8, 8)
    y = net(x).argmax(1)
    probs = model_curve(net, x, y, torch.rand(3, 2, 2), steps=4)
    assert probs.shape == (5, 3) and probs.dtype == torch.float64
    torch.testing.assert_close(probs[0], net(x).softmax(1).gather(1, y[:, None])[:, 0].double())


@needs_captum
def test_integrated_gradients_completeness():
    """IG attributions sum to logit(A) − logit(0) (Gauss–Legendre quadrature, smooth head)."""
    torch.manual_seed(0)
    head = nn.Sequential(nn.Flatten(), nn.Linear(2 * 16, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    a = torch.rand(2, 2, 4, 4, dtype=torch.float64)
    y = torch.tensor([1, 2])
    view = layer_view(head, a)
    ig = attribution_map("integrated_gradients", view, y, steps=32)
    gap = head(a).gather(1, y[:, None])[:, 0] - head(torch.zeros_like(a)).gather(1, y[:, None])[:, 0]
    torch.testing.assert_close(ig.flatten(1).sum(1), gap.detach(), atol=1e-8, rtol=1e-6)


@needs_captum
def test_saliency_is_the_absolute_gradient():
    net, x, y = plain_cnn(), torch.rand(2, 3, 8, 8), torch.tensor([0, 1])
    a = net[:2](x).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(net[2:](a).gather(1, y[:, None]).sum(), a)
    got = attribution_map("saliency", layer_view(net, x, net[1]), y)
    torch.testing.assert_close(got, g.abs().sum(1))


@needs_captum
@pytest.mark.parametrize("method", ["integrated_gradients", "occlusion"])
def test_captum_rankings_find_the_evidence(method):
    """Only the EVIDENCE token moves the logit: IG (x·∂) and occlusion rank it first,
    ahead of the larger-norm distractor."""
    model, (x, y) = evidence_model(layer=False), evidence_batch()
    scores = token_scores(method, model, x, y, head=lambda f: classify_features(model, f))
    assert (ranks(scores)[:, EVIDENCE[0], EVIDENCE[1]] == 0).all()


@needs_captum
def test_occlusion_score_is_the_logit_drop():
    model, (x, y) = evidence_model(layer=False), evidence_batch()
    occ = token_scores("occlusion", model, x, y, head=lambda f: classify_features(model, f))
    torch.testing.assert_close(occ[:, EVIDENCE[0], EVIDENCE[1]], torch.full((2,), 2.0 * 2))
    # the drop of logit 0 (32 / 16 = 2) counted once per channel by the channel sum


def test_missing_captum_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    monkeypatch.setitem(sys.modules, "captum", None)
    net, x = plain_cnn(), torch.rand(1, 3, 8, 8)
    with pytest.raises(ImportError, match=r"pip install 'ersm\[captum\]'"):
        token_scores("saliency", net, x, torch.tensor([0]), layer=net[1])


@needs_captum
def test_evaluate_with_captum_rankings(tiny_runs, tiny_data, tmp_path):
    settings = EvalSettings(modes=("feature",), seeds=1, steps=2, panels=1, landscape=0,
                            levels=(0.5,), limit=2, attributions=CAPTUM_METHODS)
    result = evaluate_run(tiny_runs["mrf"], tiny_data, tmp_path, settings, progress=False)
    m = result["metrics"]
    for method in CAPTUM_METHODS:
        for key in (f"deletion_auc.feature.{method}", f"insertion_auc.feature.{method}",
                    f"pointing_game.{method}", f"iou_topk.{method}"):
            assert 0 <= m[key] <= 1, key
    assert result["meta"]["settings"]["attributions"] == list(CAPTUM_METHODS)
    assert "| integrated_gradients |" in (tmp_path / "report.md").read_text()
    assert "attributions" not in EvalSettings().to_dict()  # default results unchanged
