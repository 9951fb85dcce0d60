"""scripts/experiments/rank_stability.py: where a detector's points go between images (kept in its best, found at a
lower rank, not found), and its smoothed variants."""
from __future__ import annotations

import cv2
import numpy as np

from distill.detection.by_name import build_detectors
from distill.detection.detector import detect
from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import load_hpatches
from tests.conftest import embedded, load_script, run_script


def test_ranking_by_a_smoothed_map_keeps_the_detectors_own_maxima():
    """``--rank-smooth`` changes the order of a detector's points, never where they are: Harris's NMS maxima on a real
    photo, ranked by its blurred response, are its own pixels (less the few whose blurred response falls under its
    threshold)."""
    grey = cv2.resize(cv2.imread(str(embedded("camera")), cv2.IMREAD_GRAYSCALE), (320, 240))
    harris = build_detectors(["harris"])[0]
    ranked = load_script("rank_stability").smoothed(harris, 2.0, rank_only=True)
    own, _ = detect(harris, grey, 4)
    reordered, _ = detect(ranked, grey, 4)
    assert len(own) > 50
    assert {tuple(p) for p in reordered} <= {tuple(p) for p in own}
    assert len(reordered) >= 0.9 * len(own)
    assert not np.array_equal(own[:50], reordered[:50])  # the blurred map orders them otherwise


def test_the_shares_grow_with_the_points_looked_at_and_the_repeatability_is_the_protocols(hpatches_root):
    """Looking among more of image k's points finds more of image 1's best; on the sequence whose images differ only
    in gain Harris finds nearly all of its points again; the repeatability column is what `distill eval` reports."""
    result = run_script("rank_stability", "--detector", "harris", "--root", str(hpatches_root), "--protocol", "standard",
                        "--smooth", "1")
    assert result.returncode == 0, result.stderr
    rows = [line.strip("| \n").split(" | ") for line in result.stdout.splitlines() if line.startswith("| harris")]
    assert [(row[0], row[1]) for row in rows] == [("harris", "i"), ("harris", "v"), ("harris, map blurred 1 px", "i"),
                                                   ("harris, map blurred 1 px", "v")]
    for row in rows:
        repeatability, kept, lower, found = (float(x) for x in row[2:])
        assert kept <= lower <= found
    assert float(rows[0][5]) > 0.95
    expected = evaluate(build_detectors(["harris"]), load_hpatches(hpatches_root), Protocol.named("standard"), progress=False)[0]
    assert [float(rows[0][2]), float(rows[1][2])] == [round(expected.repeatability(kind), 3) for kind in "iv"]


def test_a_blurred_map_keeps_an_isolated_peak_where_it_is():
    """Blurring a map before NMS moves no point of a bright square's four Harris corners by more than a pixel along
    each axis, and lowers the peaks: the mass around each is spread."""
    grey = np.zeros((64, 80), np.uint8)
    grey[20:44, 24:56] = 200
    harris = build_detectors(["harris"])[0]
    blurred = load_script("rank_stability").smoothed(harris, 1.0, rank_only=False)
    assert float(blurred.score_map(grey).max()) < float(harris.score_map(grey).float().max())
    own, smooth = detect(harris, grey, top_k=4)[0], detect(blurred, grey, top_k=4)[0]
    assert len(own) == len(smooth) == 4
    assert np.abs(own[:, None] - smooth[None]).max(axis=2).min(axis=0).max() <= 1
    assert blurred.name == "harris, map blurred 1 px"
