"""Rankings, curves and AUC on hand-computed cases (a model whose evidence is known)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ersm.evaluation.deletion import (auc, curve, fill_like, gaussian_blur, step_counts,
                                      true_class_probability)
from ersm.evaluation.probe import classify_features, probe, tokens_to_cells, tokens_to_pixels
from ersm.evaluation.rankings import (energy_scores, gradcam, gradcam_scores, magnitude_scores,
                                      mask_scores, random_scores, ranks)

from eval_helpers import DISTRACTOR, EVIDENCE, evidence_batch, evidence_model

P_FULL = 1 / (1 + math.exp(-4.0))  # σ(2 · mean(channel 0)) with the evidence token present


# ---------------------------------------------------------------- AUC


@pytest.mark.parametrize("y, x, expected", [
    ([1.0, 1.0, 1.0], None, 1.0),
    ([1.0, 0.5, 0.0], None, 0.5),
    ([0.0, 1.0, 1.0, 1.0, 1.0], None, 0.875),          # (0.5 + 3) / 4
    ([1.0, 0.0], [0.0, 2.0], 0.5),                     # normalised by the x range
    ([0.0, 1.0, 1.0], [0.0, 0.1, 1.0], 0.95),          # uneven steps: 0.05 + 0.9
    ([0.3], None, 0.3),
])
def test_auc_known_curves(y, x, expected):
    assert auc(y, x) == pytest.approx(expected)


def test_auc_exception():
    with pytest.raises(ValueError, match="x must have shape"):
        auc([0.0, 1.0], [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="x must increase"):
        auc([0.0, 1.0], [1.0, 1.0])


def test_step_counts():
    assert step_counts(16, 16).tolist() == list(range(17))
    assert step_counts(10, 4).tolist() == [0, 2, 5, 8, 10]
    with pytest.raises(ValueError, match="steps must be >= 1"):
        step_counts(4, 0)


# ---------------------------------------------------------------- rankings


def test_ranks_stable_ties():
    scores = torch.tensor([[[1.0, 3.0], [1.0, 1.0]], [[0.0, 0.0], [0.0, 5.0]]])
    assert ranks(scores).tolist() == [[[1, 0], [2, 3]], [[1, 2], [3, 0]]]
    assert ranks(torch.zeros(0, 2, 2)).shape == (0, 2, 2)


def test_mask_scores_put_mask_first_then_energy():
    energy = torch.tensor([[[4.0, 3.0, -2.0, 1.0]]])
    mask = torch.tensor([[[False, False, True, True]]])
    assert ranks(mask_scores(mask, energy)).tolist() == [[[2, 3, 1, 0]]]


def test_random_scores_are_seeded_and_batch_independent():
    a, b = random_scores(5, (3, 3), seed=1), random_scores(5, (3, 3), seed=1)
    assert torch.equal(a, b) and not torch.equal(a, random_scores(5, (3, 3), seed=2))
    assert torch.equal(random_scores(2, (3, 3), seed=1), a[:2])


def test_rankings_of_the_evidence_model():
    model = evidence_model()
    x, labels = evidence_batch()
    p = probe(model, x)
    assert p.keep_prob[:, EVIDENCE[0], EVIDENCE[1]].eq(1).all() and p.keep_prob.sum() == 2
    assert (ranks(energy_scores(p.unary))[:, EVIDENCE[0], EVIDENCE[1]] == 0).all()
    order = ranks(magnitude_scores(x))
    assert (order[:, DISTRACTOR[0], DISTRACTOR[1]] == 0).all()
    assert (order[:, EVIDENCE[0], EVIDENCE[1]] == 1).all()
    assert (ranks(gradcam_scores(model, x, labels))[:, EVIDENCE[0], EVIDENCE[1]] == 0).all()


def test_gradcam_of_a_linear_head_is_weighted_features():
    """logit_k = Σ_c W_kc mean(A_c) ⇒ α_c = W_kc / (H·W) and cam = Σ_c α_c A_c."""
    model = evidence_model(layer=False)
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor([[0.5, -2.0], [1.0, 3.0]]))
    x = torch.randn(3, 2, 4, 4)
    target = torch.tensor([0, 1, 0])
    w = model.head.weight[target] / 16
    expected = (w[:, :, None, None] * x).sum(1)
    torch.testing.assert_close(gradcam(model, x, target, relu=False), expected)
    torch.testing.assert_close(gradcam(model, x, target), expected.clamp(min=0))
    assert not x.requires_grad


# ---------------------------------------------------------------- curves


def feature_curve(model, x, labels, scores, kind, steps=16):
    return curve(lambda f: classify_features(model, f), x, fill_like(x, "zero"), ranks(scores),
                 labels, lambda m: tokens_to_cells(m, 1, (4, 4))[:, None], kind, steps)


def test_deletion_by_the_right_ranking_drops_at_once():
    model = evidence_model()
    x, labels = evidence_batch()
    p = probe(model, x)
    by_energy = feature_curve(model, x, labels, energy_scores(p.unary), "deletion")
    by_magnitude = feature_curve(model, x, labels, magnitude_scores(x), "deletion")
    assert by_energy.shape == (17, 2)
    expected = torch.full((17, 2), 0.5, dtype=torch.float64)
    expected[0] = P_FULL
    torch.testing.assert_close(by_energy, expected)
    expected[1] = P_FULL  # the distractor goes first: no change until step 2
    torch.testing.assert_close(by_magnitude, expected)
    assert auc(by_energy[:, 0]) == pytest.approx((P_FULL + 0.5) / 32 + 15 * 0.5 / 16)
    assert auc(by_energy[:, 0]) < auc(by_magnitude[:, 0])


def test_insertion_by_the_right_ranking_rises_at_once():
    model = evidence_model()
    x, labels = evidence_batch()
    by_energy = feature_curve(model, x, labels, energy_scores(probe(model, x).unary), "insertion")
    assert by_energy[0].tolist() == [0.5, 0.5]
    torch.testing.assert_close(by_energy[1:], torch.full((16, 2), P_FULL, dtype=torch.float64))


def test_pixel_mode_equals_feature_mode_for_an_identity_backbone():
    model = evidence_model()
    x, labels = evidence_batch()
    scores = magnitude_scores(x)
    pixel = curve(model, x, fill_like(x, "zero"), ranks(scores), labels,
                  lambda m: tokens_to_pixels(m, (4, 4))[:, None], "deletion", 8)
    torch.testing.assert_close(pixel, feature_curve(model, x, labels, scores, "deletion", 8))


def test_constant_model_gives_flat_curves():
    model = evidence_model(layer=False)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([1.0, 0.0]))
    x, labels = evidence_batch(3)
    p_const = math.e / (math.e + 1)
    for kind in ("deletion", "insertion"):
        probs = feature_curve(model, x, labels, random_scores(3, (4, 4), 0), kind, steps=5)
        torch.testing.assert_close(probs, torch.full((6, 3), p_const, dtype=torch.float64))
        assert auc(probs[:, 0]) == pytest.approx(p_const)


def test_curve_chunks_steps_without_changing_results():
    model = evidence_model()
    x, labels = evidence_batch(3)
    scores = random_scores(3, (4, 4), 7)
    whole = curve(model, x, fill_like(x, "zero"), ranks(scores), labels,
                  lambda m: tokens_to_pixels(m, (4, 4))[:, None], "deletion", 16)
    chunked = curve(model, x, fill_like(x, "zero"), ranks(scores), labels,
                    lambda m: tokens_to_pixels(m, (4, 4))[:, None], "deletion", 16, max_batch=4)
    torch.testing.assert_close(whole, chunked)


def test_curve_exception():
    x, labels = evidence_batch()
    with pytest.raises(ValueError, match="kind must be one of"):
        curve(evidence_model(), x, x, ranks(x[:, 0]), labels, lambda m: m[:, None], "pruning")


def test_fills():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float64).view(2, 3, 4, 4)
    assert fill_like(x, "zero").abs().sum() == 0
    torch.testing.assert_close(fill_like(x, "mean")[..., 0, 0], x.mean(dim=(-2, -1)))
    const = torch.full((1, 3, 8, 8), 2.5)
    torch.testing.assert_close(gaussian_blur(const, 1.5), const)  # blur keeps constants
    blurred = fill_like(torch.randn(1, 3, 8, 8), "blur", sigma=1.0)
    assert blurred.shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="fill must be one of"):
        fill_like(x, "noise")


def test_true_class_probability():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    torch.testing.assert_close(true_class_probability(logits, torch.tensor([1, 0])),
                               torch.tensor([0.5, 0.75]))
    assert np.isclose(P_FULL, torch.sigmoid(torch.tensor(4.0)).item())
