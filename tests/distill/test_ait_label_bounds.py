"""scripts/ait_label_bounds.py: Harris in a teacher's place for homographic adaptation, and its table."""
from __future__ import annotations

import cv2
import numpy as np

from tests.conftest import load_script, run_script


def test_harris_adaptation_keeps_the_corners_of_a_square_where_they_are():
    """Harris averaged over 8 warps peaks, like Harris itself, at the four corners of a square: a warp
    mapped back the wrong way would move or blur the peaks away."""
    grey = np.full((120, 160), 30, np.uint8)
    grey[40:80, 50:110] = 220
    script = load_script("ait_label_bounds")
    heatmap = script.adapted("harris", script.HarrisTeacher(), 8).score_map(grey).numpy()
    assert heatmap.shape == grey.shape
    plain = cv2.cornerHarris(grey.astype(np.float32), 4, 3, 0.04)
    for y, x in [(40, 50), (40, 109), (79, 50), (79, 109)]:
        window = (slice(y - 4, y + 5), slice(x - 4, x + 5))
        peak = np.unravel_index(np.argmax(heatmap[window]), (9, 9))
        plain_peak = np.unravel_index(np.argmax(plain[window]), (9, 9))
        assert np.hypot(peak[0] - plain_peak[0], peak[1] - plain_peak[1]) <= 1.5
        assert heatmap[window].max() > 0.3 * plain.max()
    assert heatmap[100:, :].max() < 1e-3 * heatmap.max()  # flat ground stays flat


def test_the_fused_map_with_power_0_is_harris_and_the_table_has_every_row(hpatches_root):
    result = run_script("ait_label_bounds", "--root", str(hpatches_root), "--homographies", "2",
                        "--power", "0", "--power", "1")
    assert result.returncode == 0, result.stderr
    rows = {line.split("|")[1].strip(): line.split("|")[2:] for line in result.stdout.splitlines() if line.startswith("| ")}
    assert {"harris", "harris-ha2", "harris x student^0", "harris x student^1", "superpoint", "superpoint-ha2", "student-ha2"} <= set(rows)
    assert rows["harris x student^0"] == rows["harris"]
    assert any(name.startswith("student:") for name in rows)
    for name, cells in rows.items():
        if name != "map":
            assert all(0 <= float(c) <= 1 for c in cells[1:4]), (name, cells)
