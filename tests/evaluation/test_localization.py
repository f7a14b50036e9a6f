"""Localization, sparsity and occlusion metrics on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from ersm.energy.grid import GridEnergy
from ersm.evaluation.localization import iou, matched_iou, pointing_game, top_k_iou
from ersm.evaluation.occlusion import (box_order, occlude, occlusion_inputs, occlusion_mask,
                                       random_boxes)
from ersm.evaluation.probe import object_tokens
from ersm.evaluation.sparsity import bernoulli_entropy, keep_histogram, sparsity_stats


def blob(batch: int = 2) -> torch.Tensor:
    """``(B, 4, 4)`` object tokens: a 2×2 square in the top-left corner."""
    target = torch.zeros(batch, 4, 4, dtype=torch.bool)
    target[:, :2, :2] = True
    return target


def test_perfect_mask_gives_iou_and_pointing_one():
    target = blob()
    assert iou(target, target).tolist() == [1.0, 1.0]
    assert pointing_game(target.double(), target).tolist() == [1.0, 1.0]
    assert top_k_iou(target.double(), target).tolist() == [1.0, 1.0]


def test_iou_hand_computed():
    target = blob(1)
    pred = torch.zeros_like(target)
    pred[:, 0, :] = True  # 4 tokens, 2 of them object: 2 / (4 + 4 - 2)
    assert iou(pred, target).tolist() == [pytest.approx(1 / 3)]
    assert iou(~target, target).tolist() == [0.0]
    assert math.isnan(iou(torch.zeros_like(target), torch.zeros_like(target)).item())


def test_pointing_game_misses_and_undefined():
    target = blob(2)
    scores = torch.zeros(2, 4, 4)
    scores[0, 3, 3] = 1.0     # top token outside the object
    scores[1, 1, 1] = 1.0     # inside
    hits = pointing_game(scores, target)
    assert hits.tolist() == [0.0, 1.0]
    assert math.isnan(pointing_game(scores, torch.zeros_like(target))[0].item())


def test_top_k_iou_uses_the_object_size():
    target = blob(1)
    scores = torch.zeros(1, 4, 4)
    scores[0, 0, :] = torch.tensor([4.0, 3.0, 2.0, 1.0])  # top 4: first row, 2 of them object
    assert top_k_iou(scores, target).tolist() == [pytest.approx(1 / 3)]


def test_matched_iou_finds_the_object_at_its_size():
    """Every θ < 0 (the plain solution keeps all 16 tokens), the object's most negative: a
    keep cost that leaves 4 tokens leaves exactly the object; coupling only helps here."""
    target = blob(2)
    theta = torch.where(target, -3.0, -1.0).double() + 0.01 * torch.rand(2, 4, 4)
    for gamma in (0.0, 0.2):
        energy = GridEnergy(theta, torch.full((2, 2, 4, 4), gamma, dtype=torch.float64))
        assert matched_iou(energy, target).tolist() == [1.0, 1.0]
    empty = matched_iou(GridEnergy(theta, torch.zeros(2, 2, 4, 4)), torch.zeros_like(target))
    assert torch.isnan(empty).all()


def test_matched_iou_with_an_uninformative_energy():
    """Constant θ: every shift keeps all or nothing, the closer of the two is scored."""
    target = blob(1)
    energy = GridEnergy(torch.full((1, 4, 4), -1.0, dtype=torch.float64), torch.zeros(1, 2, 4, 4))
    assert matched_iou(energy, target).tolist() in ([0.0], [0.25])


def test_object_tokens_by_majority():
    masks = torch.zeros(1, 1, 8, 8)
    masks[..., :4, :4] = 1          # token (0, 0) fully object
    masks[..., 4:7, 0:4] = 1        # token (1, 0): 12 of 16 pixels
    masks[..., 0:2, 4:8] = 1        # token (0, 1): exactly half: not a majority
    assert object_tokens(masks, (2, 2)).tolist() == [[[True, False], [True, False]]]


# ---------------------------------------------------------------- sparsity


def test_sparsity_of_undecided_and_binary_masks():
    half = sparsity_stats(torch.full((2, 3, 3), 0.5))
    assert half["active_fraction"].tolist() == [0.0, 0.0]
    assert half["mean_keep_prob"].tolist() == [0.5, 0.5]
    torch.testing.assert_close(half["entropy"], torch.full((2,), math.log(2), dtype=torch.float64))
    binary = torch.zeros(1, 2, 2)
    binary[0, 0] = 1
    stats = sparsity_stats(binary)
    assert stats["active_fraction"].item() == 0.5 and stats["entropy"].item() == 0.0
    assert bernoulli_entropy(torch.tensor([0.0, 1.0])).tolist() == [0.0, 0.0]


def test_keep_histogram():
    counts = keep_histogram(torch.tensor([0.0, 0.05, 0.5, 0.95, 1.0]), bins=10)
    assert counts.tolist() == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert keep_histogram(torch.rand(4, 5, 5)).sum() == 100


# ---------------------------------------------------------------- occlusion


def test_random_boxes_seeded_and_inside():
    boxes = random_boxes(6, (20, 30), seed=3)
    assert torch.equal(boxes, random_boxes(6, (20, 30), seed=3))
    assert torch.equal(random_boxes(2, (20, 30), seed=3), boxes[:2])
    top, left, h, w = boxes.unbind(-1)
    assert (top >= 0).all() and (left >= 0).all() and (h >= 1).all() and (w >= 1).all()
    assert (top + h <= 20).all() and (left + w <= 30).all()


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_occlusion_covers_the_exact_fraction_of_the_region(fraction):
    size = (16, 16)
    region = torch.zeros(3, *size, dtype=torch.bool)
    region[:, 3:11, 2:9] = True  # 56 pixels
    region[2] = ~region[2]
    order = box_order(random_boxes(3, size, seed=0), size)
    occluded = occlusion_mask(region, order, fraction)
    assert (occluded <= region).all()
    expected = torch.round(fraction * region.flatten(1).sum(1).double()).long()
    assert occluded.flatten(1).sum(1).tolist() == expected.tolist()


def test_occlusion_levels_are_nested_and_follow_the_boxes():
    size = (12, 12)
    boxes = torch.tensor([[[0, 0, 4, 4], [6, 6, 4, 4]]])
    order = box_order(boxes, size)
    assert order[0, 0, 0] < 1 <= order[0, 7, 7] < 2 <= order[0, 5, 0]
    region = torch.ones(1, *size, dtype=torch.bool)
    low, high = occlusion_mask(region, order, 0.1), occlusion_mask(region, order, 0.3)
    assert (low <= high).all()
    assert occlusion_mask(region, order, 16 / 144)[0, :4, :4].all()  # the first box exactly


def test_occlusion_inputs_touch_only_their_region():
    images = torch.randn(2, 3, 8, 8)
    objects = torch.zeros(2, 8, 8, dtype=torch.bool)
    objects[:, 2:6, 2:6] = True
    order = box_order(random_boxes(2, (8, 8), seed=1), (8, 8))
    named = dict(occlusion_inputs(images, objects, order, levels=(0.5,), fill=0.0))
    assert list(named) == ["object.0.5", "background.0.5", "roi_only", "roi_masked"]
    changed = (named["object.0.5"] != images).any(1)
    assert (changed <= objects).all() and changed.flatten(1).sum(1).tolist() == [8, 8]
    assert torch.equal(named["roi_only"], occlude(images, ~objects))
    assert (named["roi_masked"][:, :, 2:6, 2:6] == 0).all()
    assert torch.equal(named["roi_masked"][:, :, 0], images[:, :, 0])
