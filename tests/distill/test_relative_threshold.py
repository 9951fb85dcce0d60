"""scripts/experiments/relative_threshold.py: a detector's maxima cut at a fraction of its image's highest score."""
from __future__ import annotations

import cv2
import numpy as np

from distill.detection.by_name import build_detectors
from distill.detection.detector import detect
from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import load_hpatches
from tests.conftest import embedded, load_script, run_script


def test_the_relative_cut_keeps_the_detectors_own_points_above_the_fraction_in_their_order():
    """Harris's NMS maxima on a real photo, cut at a tenth of the image's highest response, are exactly its own points
    whose response exceeds that tenth, strongest first, with their scores divided by the maximum."""
    grey = cv2.resize(cv2.imread(str(embedded("camera")), cv2.IMREAD_GRAYSCALE), (320, 240))
    harris = build_detectors(["harris"])[0]
    cut = load_script("relative_threshold").relative(harris, 0.1)
    own, scores = detect(harris, grey, 4)
    peak = float(harris.score_map(grey).float().max())
    kept, kept_scores = detect(cut, grey, 4)
    above = scores / peak > 0.1
    assert 20 < above.sum() < len(own)  # the cut drops some points and keeps some
    np.testing.assert_array_equal(kept, own[above])
    np.testing.assert_allclose(kept_scores, scores[above] / peak, rtol=1e-6)
    assert cut.name == "harris, above 0.1 of its image's maximum"


def test_superpoint_comes_first_and_the_uncut_rows_are_the_protocols(hpatches_root):
    """On a small HPatches-style folder the script's rows for Harris as it is are what `distill eval` reports; SuperPoint
    comes first, as it is."""
    result = run_script("relative_threshold", "--root", str(hpatches_root), "-d", "harris", "--relative", "0.01",
                        "--relative", "0.3")
    assert result.returncode == 0, result.stderr
    rows = {line.split(" | ")[0].strip("| "): [float(x.strip(" |")) for x in line.split(" | ")[1:]]
            for line in result.stdout.splitlines() if line.startswith("| ") and not line.startswith("| detector")}
    assert list(rows) == ["superpoint", "harris", "harris, above 0.01 of its image's maximum",
                          "harris, above 0.3 of its image's maximum"]
    expected = evaluate(build_detectors(["harris"]), load_hpatches(hpatches_root), Protocol.named("standard"), progress=False)[0]
    assert rows["harris"] == [round(expected.repeatability(kind), 3) for kind in (None, "i", "v")]
    assert all(0 < value <= 1 for values in rows.values() for value in values)


def test_nothing_to_cut_is_a_usage_error(hpatches_root):
    result = run_script("relative_threshold", "--root", str(hpatches_root), "--relative", "0.1")
    assert result.returncode == 2 and "--checkpoint or --detector" in result.stderr
