"""scripts/ait_ranking.py: the test-time repeat rate of points under random warps, and its tables."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from distill.detection.by_name import build_detectors
from distill.detection.detector import detect
from distill.eval.protocol import Protocol
from tests.conftest import load_script, run_script


def test_corners_repeat_under_the_warps_and_points_on_flat_ground_do_not():
    """Four bright squares on a dark ground: Harris's 16 strongest points are their corners, which the
    warped copies detect again (a homography applied the wrong way round would lose them); points
    placed on the flat ground between the squares never repeat."""
    grey = np.full((240, 320), 40, np.uint8)
    for top, left in [(40, 50), (40, 200), (140, 50), (140, 200)]:
        grey[top:top + 60, left:left + 70] = 200
    harris = build_detectors(["harris"])[0]
    corners = detect(harris, grey, 4, top_k=16)[0]
    flat = np.array([[160.0, 20.0], [160.0, 120.0], [20.0, 120.0], [300.0, 220.0]])
    rate = load_script("ait_ranking").repeat_rate(harris, grey, np.concatenate([corners, flat]), replace(Protocol.named("ait")),
                                     warps=4, epsilon=2.0, top_k=20)
    assert rate[:16].mean() > 0.8
    assert np.all(rate[16:] == 0)


def test_the_script_prints_every_order_and_where_the_scored_points_land(hpatches_root):
    result = run_script("ait_ranking", "--detector", "harris", "--root", str(hpatches_root),
                        "--protocol", "standard", "--warps", "1")
    assert result.returncode == 0, result.stderr
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("| ")}
    assert {"own", "random", "harris", "coarse", "warps", "i", "v"} <= set(rows)
    assert rows["own"] == rows["harris"].replace("| harris |", "| own |")  # Harris ordered by its own response
    for kind in "iv":
        shares = [float(x) for x in rows[kind].strip("| \n").split("|")[1:]]
        assert abs(sum(shares) - 1) < 0.01
