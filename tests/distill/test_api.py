"""The Python API against the reference path (``distill.eval.detectors.detect`` on a grey uint8 image)."""
import cv2
import numpy as np
import pytest
import torch

import distill
from distill.eval.detectors import detect
from tests.conftest import embedded


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """An RGB photo of a size that is not a multiple of 8."""
    bgr = cv2.imread(str(embedded("astronaut")))
    return cv2.cvtColor(cv2.resize(bgr, (131, 101), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def superpoint() -> distill.Detector:
    return distill.Detector.superpoint()


def test_every_input_kind_gives_the_reference_points(photo, superpoint):
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    xy, scores = detect(superpoint.detector, grey, top_k=200)
    assert 50 < len(xy) <= 200
    inputs = {
        "grey uint8": grey, "grey H x W x 1": grey[..., None], "grey float": grey.astype(np.float32) / 255,
        "RGB uint8": photo, "BGR uint8": photo[..., ::-1].copy(), "RGB float": photo.astype(np.float64) / 255,
        "torch grey": torch.from_numpy(grey).float() / 255, "torch 3 x H x W": torch.from_numpy(photo).permute(2, 0, 1).float() / 255,
    }
    for kind, image in inputs.items():
        features = superpoint(image, top_k=200, channels="bgr" if kind.startswith("BGR") else "rgb")
        assert np.array_equal(np.asarray(features.keypoints), xy) and np.allclose(np.asarray(features.scores), scores), kind
        assert isinstance(features.keypoints, torch.Tensor) == kind.startswith("torch")
    assert (xy[:, 0] <= 130).all() and (xy[:, 1] <= 100).all()  # never in the padding of the 101 x 131 image


def test_batches_give_one_result_per_image(photo, superpoint):
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    single = superpoint(grey, top_k=50)
    for batch in (np.stack([grey, grey])[..., None], [grey, photo], torch.from_numpy(np.stack([photo, photo])).permute(0, 3, 1, 2)):
        results = superpoint(batch, top_k=50)
        assert len(results) == 2 and all(np.array_equal(np.asarray(r.keypoints), single.keypoints) for r in results)


def test_options_and_bad_input(photo, superpoint):
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    assert len(superpoint(grey, top_k=10)) == 10
    assert len(superpoint(grey, threshold=0.5)) < len(superpoint(grey))
    assert len(superpoint(grey, nms_radius=0)) > len(superpoint(grey, nms_radius=8))
    refined = superpoint(grey, top_k=20, subpixel=True).keypoints
    assert not np.array_equal(refined, np.round(refined))
    for bad, message in [(grey.astype(np.float32), r"float images must lie in \[0, 1\]"), (grey.astype(np.int64), "dtype int64"),
                         (np.zeros((2, 3, 4, 5)), "NumPy image must be")]:
        with pytest.raises(ValueError, match=message):
            superpoint(bad)
    with pytest.raises(ValueError, match="top_k"):
        superpoint(grey, top_k=0)
    assert distill.Detector.classical("shi")(grey, top_k=5).keypoints.shape == (5, 2)
