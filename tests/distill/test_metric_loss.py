import numpy as np
import pytest
import torch

from distill.student.config import TrainConfig
from distill.student.losses import sampled_descriptor_loss
from distill.student.metric_loss import hardest_negative_triplet, metric_loss
from labels.configuration import load_config
from tests.distill.test_descriptors import described_store  # noqa: F401 (fixture)
from tests.distill.test_warped_views import descriptor_steps, one_step_row


def test_the_triplet_takes_the_hardest_negative_of_either_image_that_is_allowed():
    """Three unit descriptors per image, a_i <-> b_i. b_2 is a copy of a_0's descriptor but lies where a_0 lands
    (not a negative of a_0): only the allowed negatives count, and the hardest of them sets the loss."""
    e = torch.eye(4)
    desc0 = torch.stack([e[0], e[1], (e[2] + e[1]) / np.sqrt(2)])[None]
    desc1 = torch.stack([e[0], e[1], e[0]])[None]
    matches = torch.eye(3, dtype=torch.bool)[None]
    anywhere = ~matches
    near = anywhere.clone()
    near[0, 0, 2] = False  # b_2 is not a negative of a_0
    distance = torch.cdist(desc0, desc1)[0]
    d_a1_b2 = distance[1, 2].item()  # sqrt(2)
    d_a2_b1 = distance[2, 1].item()  # the hardest negative of b_1 and of a_2: sqrt(2 - sqrt(2))
    # match 0: d_pos 0, hardest negative sqrt(2) (b_1; a_1, a_2 to b_0) under `near`, 0 (b_2) under `anywhere`
    # match 1: d_pos 0, hardest negative d_a2_b1; match 2: d_pos |a_2 - b_2| = sqrt(2), hardest negative d_a2_b1
    margin = 1.0
    expected = (max(0, margin - np.sqrt(2)) + max(0, margin - d_a2_b1) + max(0, margin + np.sqrt(2) - d_a2_b1)) / 3
    assert d_a1_b2 == pytest.approx(np.sqrt(2))
    assert hardest_negative_triplet(desc0, desc1, matches, near, near, margin).item() == pytest.approx(expected, abs=1e-5)
    everywhere = (margin + max(0, margin - d_a2_b1) + max(0, margin + np.sqrt(2) - d_a2_b1)) / 3
    assert hardest_negative_triplet(desc0, desc1, matches, anywhere, near, margin).item() == pytest.approx(everywhere, abs=1e-5)
    assert hardest_negative_triplet(desc0, desc1, torch.zeros_like(matches), near, near, margin).item() == 0.0


def test_metric_loss_trains_the_released_descriptors_and_leaves_the_keypoints_alone():
    """The released student's descriptors of a real photo and of its warps: a finite loss that falls as the
    descriptor branch learns it (the same warps at each step), and the detector's head gets no gradient."""
    losses = descriptor_steps(lambda *args: metric_loss(*args, 160, 3.0, 5.0, 1.0))
    assert np.isfinite(losses).all() and 0 < losses[-1] < losses[0]


def test_a_run_with_the_metric_term_logs_it_and_the_configuration_needs_descriptors(described_store, tmp_path):  # noqa: F811
    row = one_step_row(described_store[0], tmp_path / "run", "metric", weight=1.0, top_k=32)
    assert row["metric"] >= 0 and row["descriptor"] > 0
    with pytest.raises(ValueError, match="losses.metric .* student.descriptor_dim.*--init keeps .*descriptor_channels=128"):
        load_config(TrainConfig, overrides=["losses.metric.weight=1"])
    with pytest.raises(ValueError, match="losses.metric needs .* margin > 0"):
        load_config(TrainConfig, overrides=["losses.metric.margin=0"])


def test_the_descriptor_term_at_points_is_the_mean_cosine_distance_there():
    """Same descriptors: 0; orthogonal: 1; opposite: 2; a batch of mixed points: their mean."""
    e = torch.eye(3)
    assert sampled_descriptor_loss(e[None], e[None]).item() == pytest.approx(0.0)
    assert sampled_descriptor_loss(e[None, :1], e[None, 1:2]).item() == pytest.approx(1.0)
    assert sampled_descriptor_loss(e[None, :1], -e[None, :1]).item() == pytest.approx(2.0)
    assert sampled_descriptor_loss(e[None, :2], torch.stack([e[0], e[2]])[None]).item() == pytest.approx(0.5)


def test_a_run_with_the_descriptor_term_at_points_logs_it_beside_the_dense_one(described_store, tmp_path):  # noqa: F811
    row = one_step_row(described_store[0], tmp_path / "run", "descriptor", at_points=4.0, top_k=32)
    assert 0 < row["descriptor_points"] <= 4 * 2 and row["descriptor"] > 0
    with pytest.raises(ValueError, match="losses.descriptor needs at_points >= 0"):
        load_config(TrainConfig, overrides=["losses.descriptor.at_points=-1"])
