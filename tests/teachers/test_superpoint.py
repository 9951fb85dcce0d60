from pathlib import Path

import pytest
import torch

from teachers import weights
from teachers.keypoints import extract_keypoints, nms
from teachers.superpoint import SuperPoint, sample_descriptors


def test_packaged_weights_are_found_and_verified():
    for spec in (weights.SUPERPOINT, weights.LIGHTGLUE):
        path = weights.locate(spec)
        assert weights.sha256_of(path) == spec.sha256


def test_wrong_weights_file_gives_a_clear_message(tmp_path: Path):
    bad = tmp_path / "superpoint.pth"
    bad.write_bytes(b"not a model")
    with pytest.raises(weights.WeightsError, match="sha256.*eyeliner==0.1.1"):
        weights.locate(weights.SUPERPOINT, bad)
    with pytest.raises(weights.WeightsError, match="not found"):
        weights.locate(weights.SUPERPOINT, tmp_path / "missing.pth")


def test_forward_shapes_and_ranges(teacher: SuperPoint, photo: torch.Tensor):
    out = teacher(photo[None])
    assert out.probability.shape == (1, 120, 160)
    assert out.descriptors.shape == (1, 256, 15, 20)
    assert 0 <= out.probability.min() and out.probability.max() <= 1
    assert torch.allclose(out.descriptors.norm(dim=1), torch.ones(1, 15, 20), atol=1e-4)


def test_odd_sizes_are_padded_and_cropped(teacher: SuperPoint, photo: torch.Tensor):
    out = teacher(photo[None, :, :117, :155])
    assert out.probability.shape == (1, 117, 155)


def test_batched_equals_single(teacher: SuperPoint, photo: torch.Tensor):
    batch = torch.stack([photo, photo.flip(-1)])
    together = teacher(batch).probability
    assert torch.allclose(together[1], teacher(batch[1:]).probability[0], atol=1e-5)


def test_detects_the_corners_of_a_bright_square(teacher: SuperPoint):
    image = torch.zeros(1, 1, 96, 128)
    image[..., 32:64, 48:80] = 1.0
    points = teacher.detect(image, threshold=0.05)[0]
    corners = torch.tensor([[48, 32], [79, 32], [48, 63], [79, 63]], dtype=torch.float32)
    distances = torch.cdist(corners, points.xy).min(dim=1).values
    assert (distances <= 3).all(), distances


def test_nms_keeps_only_local_maxima():
    heat = torch.zeros(1, 20, 20)
    heat[0, 5, 5], heat[0, 6, 7], heat[0, 15, 15] = 0.9, 0.5, 0.3
    kept = nms(heat, radius=4)
    assert kept[0, 5, 5] == 0.9 and kept[0, 6, 7] == 0 and kept[0, 15, 15] == 0.3
    points = extract_keypoints(heat, threshold=0.1, nms_radius=4)[0]
    assert points.xy.tolist() == [[5.0, 5.0], [15.0, 15.0]]
    assert torch.allclose(points.scores, torch.tensor([0.9, 0.3]))


def test_descriptor_sampling_at_cell_centre(teacher: SuperPoint, photo: torch.Tensor):
    desc = teacher(photo[None]).descriptors[0]
    # the centre of cell (row 3, col 5) is pixel (x, y) = (5*8 + 3.5, 3*8 + 3.5)
    sampled = sample_descriptors(desc, torch.tensor([[43.5, 27.5]]), (120, 160))
    assert torch.allclose(sampled[0], desc[:, 3, 5], atol=1e-5)
