import math

import pytest
import torch

from distill.student import losses as L


def test_focal_matches_the_formula_by_hand():
    s = torch.tensor([[[0.0, 2.0]]])  # B x H x W = 1 x 1 x 2
    t = torch.tensor([[[1.0, 0.0]]])
    valid = torch.ones_like(s)
    p = torch.sigmoid(s)
    # pixel 1 positive: -0.25 (1-p)^2 log p ; pixel 2 negative: -0.75 p^2 log(1-p)
    expected = (-0.25 * (1 - p[0, 0, 0]) ** 2 * torch.log(p[0, 0, 0]) - 0.75 * p[0, 0, 1] ** 2 * torch.log(1 - p[0, 0, 1])) / 2
    assert L.focal_loss(s, t, valid).item() == pytest.approx(expected.item(), rel=1e-5)


def test_attentive_weights_confident_pixels():
    s = torch.zeros(1, 1, 2)  # sigmoid = 0.5 everywhere
    t = torch.tensor([[[0.0, 1.0]]])  # both errors are 0.5
    sigma2 = torch.tensor([[[0.0, 0.5]]])
    valid = torch.ones_like(s)
    w = torch.tensor([1 / 1e-3, 1 / (1 + 1e-3)])
    w = w / w.mean()
    expected = (w * 0.25).mean()
    assert L.attentive_loss(s, t, sigma2, valid, eps=1e-3).item() == pytest.approx(expected.item(), rel=1e-5)
    # the confident pixel dominates: fixing only it removes almost all the loss
    fixed = L.attentive_loss(torch.tensor([[[-20.0, 0.0]]]), t, sigma2, valid, eps=1e-3)
    assert fixed < 0.01 * L.attentive_loss(s, t, sigma2, valid, eps=1e-3)


def test_attentive_on_log_probabilities_counts_weak_scores_by_ratio():
    t = torch.tensor([[[0.0, 0.5]]])  # a flat pixel (under the floor) and a strong one
    sigma2, valid = torch.zeros(1, 1, 2), torch.ones(1, 1, 2)
    weak = torch.logit(torch.tensor([[[0.004, 0.5]]]))  # the flat pixel at 4x the floor, the strong one exact
    # log(0.004) - log(0.001) = log 4 on one of two pixels of equal weight
    expected = math.log(4) ** 2 / 2
    assert L.attentive_loss(weak, t, sigma2, valid, log_floor=1e-3).item() == pytest.approx(expected, rel=1e-4)
    # on probabilities the same error is a rounding error (0.004^2 / 2)
    assert L.attentive_loss(weak, t, sigma2, valid).item() == pytest.approx(0.004 ** 2 / 2, rel=1e-3)
    # under the floor, nothing is compared: a flat pixel at 0.0005 costs nothing
    under = torch.logit(torch.tensor([[[0.0005, 0.5]]]))
    assert L.attentive_loss(under, t, sigma2, valid, log_floor=1e-3).item() == pytest.approx(0.0, abs=1e-9)


def test_kl_cell_is_zero_for_equal_distributions_and_scales_with_t_squared():
    p = torch.softmax(torch.randn(2, 65, 3, 4), dim=1)
    valid = torch.ones(2, 3, 4)
    assert L.kl_cell_loss(p.log(), p, valid).item() == pytest.approx(0.0, abs=1e-6)
    q_logits = torch.zeros(1, 65, 1, 1)
    target = torch.zeros(1, 65, 1, 1)
    target[0, 64] = 1.0  # all mass on the dustbin
    # KL(delta || uniform) = log 65
    assert L.kl_cell_loss(q_logits, target, torch.ones(1, 1, 1)).item() == pytest.approx(math.log(65), rel=1e-4)


def test_teacher_cells_round_trip_to_the_heatmap():
    heat = torch.zeros(1, 16, 16)
    heat[0, 3, 5] = 0.6
    cells = L.teacher_cells(heat)
    assert cells.shape == (1, 65, 2, 2)
    assert cells[0, 3 * 8 + 5, 0, 0].item() == pytest.approx(0.6, rel=1e-3)
    assert cells[0, 64, 0, 0].item() == pytest.approx(0.4, rel=1e-3)


def test_kl_spatial_zero_when_student_matches_teacher():
    t = torch.rand(1, 8, 8) + 0.01
    valid = torch.ones_like(t)
    assert L.kl_spatial_loss(t.log(), t, valid).item() == pytest.approx(0.0, abs=1e-5)
    assert L.kl_spatial_loss(torch.zeros_like(t), t, valid).item() > 0


def test_gaussian_targets_blob_in_range():
    mask = torch.zeros(1, 9, 9)
    mask[0, 4, 4] = 1
    target = L.gaussian_targets(mask, sigma=1.0)
    assert target[0, 4, 4].item() == pytest.approx(0.9)
    assert target[0, 0, 0].item() == pytest.approx(0.1)
    assert target[0, 4, 5].item() == pytest.approx(0.1 + 0.8 * math.exp(-0.5), rel=1e-5)


def test_huber_and_consistency_by_hand():
    valid = torch.ones(1, 1, 1)
    # |sigmoid(0) - 0| = 0.5 > delta 0.1: 0.1 * (0.5 - 0.05) = 0.045
    assert L.huber_loss(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), valid, delta=0.1).item() == pytest.approx(0.045)
    # |0.55 - 0.5| = 0.05 <= 0.1: 0.5 * 0.05^2 = 0.00125
    assert L.consistency_loss(torch.full((1, 1, 1), 0.55), torch.full((1, 1, 1), 0.5), valid).item() == pytest.approx(0.00125, rel=1e-4)


def test_repeatability_by_hand():
    """One 4x4 window: a single peak at the same place in both maps gives cosine 1 and peakiness
    max - mean = 1 - 1/16; a peak elsewhere gives cosine 0. Windows touching invalid pixels do not count."""
    a = torch.zeros(1, 4, 4)
    a[0, 1, 2] = 1.0
    moved = torch.zeros(1, 4, 4)
    moved[0, 3, 0] = 1.0
    valid = torch.ones(1, 4, 4)
    peakiness = 1 - (1 - 1 / 16)
    assert L.repeatability_loss(a, a, valid, patch=4, peaky=0.5).item() == pytest.approx(0.5 * peakiness)
    assert L.repeatability_loss(a, moved, valid, patch=4, peaky=0.0).item() == pytest.approx(1.0)
    flat = torch.full((1, 4, 4), 0.3)
    assert L.repeatability_loss(flat, flat, valid, patch=4, peaky=1.0).item() == pytest.approx(1.0)  # cos 1, no peak
    wide = torch.cat([a, moved], dim=2)  # 4 x 8: windows at x = 0, 2, 4; only the first is wholly valid
    half = torch.cat([valid, torch.zeros(1, 4, 4)], dim=2)
    assert L.repeatability_loss(wide, wide, half, patch=4, peaky=0.0).item() == pytest.approx(0.0, abs=1e-6)
