"""LightGlue's loss on the student's features: the true assignment under a known homography, the
balanced negative log-likelihood, and the real frozen LightGlue training a real descriptor branch."""

import cv2
import numpy as np
import pytest
import torch

from distill.student.config import TrainConfig
from distill.student.matcher_loss import assignment_nll, frozen_lightglue, lightglue_loss, log_assignment
from labels.configuration import load_config
from teachers.keypoints import extract_keypoints
from teachers.lightglue import load_lightglue
from teachers.superpoint import SuperPoint, sample_descriptors
from tests.conftest import embedded
from tests.distill.test_descriptors import described_store  # noqa: F401 (fixture)
from tests.distill.test_warped_views import descriptor_steps, one_step_row


def test_the_nll_is_zero_for_a_certain_truth_and_log_n_for_indifference():
    matches = torch.eye(3, dtype=torch.bool)[None]
    none = torch.zeros(1, 3, dtype=torch.bool)
    certain = torch.full((1, 4, 4), -1e4)
    certain[0, :3, :3] = torch.where(matches[0], 0.0, -1e4)
    assert assignment_nll(certain, matches, none, none).item() == pytest.approx(0.0)
    uniform = torch.full((1, 4, 4), -np.log(4.0))
    everything = torch.ones(1, 3, dtype=torch.bool)
    assert assignment_nll(uniform, matches, everything, everything).item() == pytest.approx(np.log(4.0))


def test_the_log_assignment_is_kornias_with_gradients_to_the_descriptors():
    """The same log-assignment as kornia's LightGlue forward (pruning and early stopping off), on real SuperPoint
    features of a real photo and a shifted copy; unlike kornia's, it passes gradients to the descriptors."""
    grey = cv2.resize(cv2.imread(str(embedded("camera")), cv2.IMREAD_GRAYSCALE), (160, 120))
    pair = torch.from_numpy(np.stack([grey, np.roll(grey, (3, 5), (0, 1))]).astype(np.float32) / 255)[:, None]
    with torch.no_grad():
        out = SuperPoint.pretrained()(pair)
    points = extract_keypoints(out.probability, 0.005, 4, 64, border=4)
    count = min(len(p) for p in points)
    xy = [p.xy[:count][None] for p in points]
    desc = [sample_descriptors(out.descriptors[i], xy[i][0], (120, 160))[None].requires_grad_(True) for i in range(2)]
    size = torch.tensor([[160, 120]])
    reference = load_lightglue()
    reference.conf.depth_confidence = reference.conf.width_confidence = -1  # every layer, every point: log_assignment returned
    expected = reference({"image0": {"keypoints": xy[0], "descriptors": desc[0], "image_size": size},
                          "image1": {"keypoints": xy[1], "descriptors": desc[1], "image_size": size}})["log_assignment"]
    scores = log_assignment(frozen_lightglue("cpu"), xy[0], desc[0], xy[1], desc[1], size)
    # float32 through nine attention layers in two code paths: log-scores of up to ~90 differ by up to 7e-5 of
    # their size on some CPUs (AVX-512 kernels), 1e-5 on others; a wrong assignment differs by whole units
    assert scores.shape == (1, count + 1, count + 1) and torch.allclose(scores, expected, rtol=1e-4, atol=1e-4)
    scores[0, :-1, :-1].diagonal().sum().backward()
    assert desc[0].grad.abs().sum() > 0 and desc[1].grad.abs().sum() > 0


def test_lightglue_loss_trains_the_released_descriptors_and_leaves_the_keypoints_alone():
    """The real LightGlue on the released student's points and descriptors of a real photo and of its warps:
    a finite loss that falls as the descriptor branch learns it (the same warps at each step), and no gradient
    through the keypoints: the detector's head gets none."""
    losses = descriptor_steps(lambda *args: lightglue_loss(*args, 160, 3.0, 5.0))
    assert np.isfinite(losses).all() and 0 < losses[-1] < losses[0]
    assert not any(p.requires_grad for p in frozen_lightglue("cpu").parameters())


def test_a_run_with_lightglue_loss_logs_it_and_the_configuration_needs_descriptors(described_store, tmp_path):  # noqa: F811
    row = one_step_row(described_store[0], tmp_path / "run", "lightglue", weight=1.0, top_k=32)
    assert row["lightglue"] > 0 and row["descriptor"] > 0
    with pytest.raises(ValueError, match="losses.lightglue .* student.descriptor_dim=256"):
        load_config(TrainConfig, overrides=["losses.lightglue.weight=1"])
    with pytest.raises(ValueError, match="losses.lightglue .* train_only"):
        load_config(TrainConfig, overrides=["losses.lightglue.weight=1", "student.descriptor_dim=256",
                                               "student.descriptor_channels=16", "train_only=[fpn,head]"])
