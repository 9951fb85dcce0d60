import numpy as np
import pytest

from teachers.lightglue import PairConfig, load_lightglue, match_warped_pair


@pytest.fixture(scope="module")
def matcher():
    return load_lightglue()


def test_matches_of_a_real_photo_agree_with_its_known_warp(teacher, photo, matcher):
    pair = match_warped_pair(teacher, matcher, photo, PairConfig(), seed=0)
    assert len(pair.matches) >= 20
    assert pair.consistent.mean() > 0.8
    # the labels are what they say: matchable keypoints are exactly the first ends of consistent matches
    assert set(np.flatnonzero(pair.matchable)) == set(pair.matches[pair.consistent, 0])
    assert pair.matches[:, 0].max() < len(pair.keypoints0) and pair.matches[:, 1].max() < len(pair.keypoints1)
    again = match_warped_pair(teacher, matcher, photo, PairConfig(), seed=0)
    assert np.array_equal(again.matches, pair.matches) and np.array_equal(again.homography, pair.homography)


def test_adaptive_lightglue_stops_early_on_a_photo_matched_with_itself_and_the_full_one_runs_every_layer(teacher, photo):
    """LightGlue's early stopping (its default ``depth_confidence`` 0.95) ends after a few layers when it is sure of
    every point, as on a photo matched with itself; at -1 (and no pruning) all 9 layers run, and both find the
    identity on a real photo."""
    import torch

    from teachers.keypoints import extract_keypoints
    from teachers.superpoint import sample_descriptors

    with torch.no_grad():
        out = teacher(photo[None])
        points = extract_keypoints(out.probability, 0.005, 4, 200, border=4)[0].xy
        descriptors = sample_descriptors(out.descriptors[0], points, photo.shape[-2:])
    side = {"keypoints": points[None], "descriptors": descriptors[None], "image_size": torch.tensor([[160, 120]])}
    stops = {}
    for adaptive in (True, False):
        full = {} if adaptive else {"depth_confidence": -1, "width_confidence": -1}
        result = load_lightglue(**full)({"image0": side, "image1": side})
        matches = result["matches"][0]
        assert len(matches) > 0.9 * len(points) and bool((matches[:, 0] == matches[:, 1]).all())
        stops[adaptive] = int(result["stop"])
    assert stops[False] == 9 and stops[True] < 9, stops
