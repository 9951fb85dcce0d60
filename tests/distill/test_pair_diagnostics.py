"""scripts/experiments/pair_diagnostics.py: the defocus model and the block shifts that say where a ground-truth
homography and the pixels disagree, and the homography a detector's repeated keypoints allow."""
from __future__ import annotations

import cv2
import numpy as np

from tests.conftest import embedded, load_script


ZOOM = np.array([[1.03, 0, -9.6], [0, 1.03, -7.2], [0, 0, 1]])  # 3 % about the centre of 480 x 640, as focus breathes


def brick_pair(radius: float, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A real photo (480 x 640) and its copy defocused by a disk of ``radius`` px, then warped by ``truth``."""
    script = load_script("pair_diagnostics")
    first = cv2.resize(cv2.imread(str(embedded("brick")), cv2.IMREAD_GRAYSCALE), (640, 480)).astype(np.float32)
    return first, cv2.warpPerspective(cv2.filter2D(first, -1, script.disk(radius)), truth, (640, 480))


def test_the_defocus_model_finds_the_disk_and_no_shift_where_the_ground_truth_is_right():
    script = load_script("pair_diagnostics")
    kernel = script.disk(2.0)
    assert abs(float(kernel.sum()) - 1) < 1e-6 and kernel.shape == (7, 7)
    first, other = brick_pair(2.0, np.eye(3))
    radius, gain, offset, _ = script.registration(first, other, np.eye(3))
    assert abs(radius - 2.0) <= 0.2 and abs(gain - 1) < 0.02 and abs(offset) < 2
    first, other = brick_pair(1.0, ZOOM)
    _, _, _, shifts = script.registration(first, other, ZOOM)
    read = shifts[np.isfinite(shifts[..., 0])]
    assert len(read) >= 20 and np.abs(read).max() < 0.1  # 24 blocks of 80 x 80 inside the view


def test_a_ground_truth_one_pixel_off_shows_as_a_one_pixel_shift_in_every_block():
    script = load_script("pair_diagnostics")
    first, other = brick_pair(1.0, ZOOM)
    off = np.array([[1, 0, 1.0], [0, 1, 0], [0, 0, 1]]) @ ZOOM  # the truth puts every point a pixel further right
    _, _, _, shifts = script.registration(first, other, off)
    read = shifts[np.isfinite(shifts[..., 0])]
    assert len(read) >= 20
    assert np.abs(read[:, 0] + 0.97).max() < 0.1 and np.abs(read[:, 1]).max() < 0.1  # 1 px in image k: 0.97 in image 1


def test_the_repeated_keypoints_homography_is_exact_on_exact_points_and_needs_four():
    script = load_script("pair_diagnostics")
    truth = np.array([[0.9, 0.05, 12], [-0.04, 1.1, -7], [1e-4, -2e-4, 1]])
    points = np.random.default_rng(0).uniform([0, 0], [640, 480], (60, 2))
    moved = cv2.perspectiveTransform(points[None], truth)[0]
    estimate = script.repeated_homography(points, np.concatenate([moved[::-1], [[5.0, 5.0]]]), truth)
    assert np.allclose(estimate / estimate[2, 2], truth, atol=1e-6)
    assert script.repeated_homography(points[:3], moved[:3], truth) is None
