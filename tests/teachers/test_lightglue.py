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
