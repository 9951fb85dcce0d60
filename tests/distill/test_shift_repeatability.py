"""scripts/experiments/shift_repeatability.py: repeatability under one kind of warp at a time."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from distill.detection.by_name import build_detectors
from labels.images import resize_image
from teachers.homographies import warp_points
from tests.conftest import embedded, load_script, run_script


def test_the_warps_are_what_they_are_named():
    """A rotation and a zoom about the centre keep the centre where it is; the shifts move every pixel by whole pixels."""
    warps = load_script("shift_repeatability").warps((240, 320))
    centre = np.array([[159.5, 119.5]])
    for name in ("zoom 1.25", "rotation 15°"):
        assert np.allclose(warp_points(centre, warps[name]), centre)
    corner = np.array([[0.0, 0.0]])
    assert np.allclose(warp_points(corner, warps["rotation 15°"]) - centre,
                       [[-159.5 * np.cos(np.pi / 12) + 119.5 * np.sin(np.pi / 12),
                         -159.5 * np.sin(np.pi / 12) - 119.5 * np.cos(np.pi / 12)]])
    assert np.allclose(warp_points(corner, warps["shift (5, 3) px"]), [[5, 3]])


def test_a_pixelwise_detector_repeats_under_whole_pixel_shifts():
    """Harris is computed pixel by pixel, so a shift by whole pixels (exact under bilinear warping) moves its points
    with the content: on two real photos it repeats nearly all of them, at any shift; a zoom resamples the photo
    and costs it more, and so do the synthetic viewpoint sequences."""
    result = run_script("shift_repeatability", "--embedded", "--photos", "2", "-d", "harris", "--blur", "1")
    assert result.returncode == 0, result.stderr
    assert "| harris | harris, map blurred 1 px |" in result.stdout  # --blur: rank_stability's smoothed map
    rows = {line.split(" | ")[0].strip("| "): float(line.split(" | ")[1].strip(" |"))
            for line in result.stdout.splitlines() if line.startswith("| ") and not line.startswith("| warp")}
    assert len(rows) == 11 and 0 < rows["synthetic v_ sequences"] < rows["shift 1 px"]
    for shift in ("shift 1 px", "shift 2 px", "shift 4 px", "shift 8 px", "shift (5, 3) px"):
        assert rows[shift] > 0.9, (shift, rows[shift])
    assert rows["zoom 1.25"] < min(rows[s] for s in ("shift 1 px", "shift 2 px"))


def test_a_map_averaged_over_shifted_copies_is_the_map_of_a_shift_equivariant_detector():
    """Averaging over shifted copies changes nothing for a detector computed pixel by pixel: Harris's response on a real
    photo, averaged over four copies shifted by up to 4 px and shifted back, is its own response away from the edge
    (where the copies see the reflected border), and the image keeps its size."""
    script = load_script("shift_repeatability")
    grey = resize_image(cv2.imread(str(embedded("camera")), cv2.IMREAD_GRAYSCALE), (240, 320))
    harris = build_detectors(["harris"])[0]
    averaged = script.shift_averaged(harris, 4)
    own, mean = harris.score_map(grey).float(), averaged.score_map(grey)
    assert mean.shape == own.shape == (240, 320)
    inner = (slice(8, -8), slice(8, -8))
    assert torch.allclose(mean[inner], own[inner], rtol=1e-4, atol=1e-6 * float(own.abs().max()))
    assert averaged.name == "harris, mean of 4 shifted copies"
