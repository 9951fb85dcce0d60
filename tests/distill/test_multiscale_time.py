"""scripts/experiments/multiscale_time.py: every detector timed with each set of scales, on a real photo."""
import cv2

from labels.images import embedded_images, read_grey
from tests.conftest import run_script


def test_the_multiscale_timing_prints_a_row_per_detector_and_a_time_per_set(tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), cv2.resize(read_grey(embedded_images()[0]), (160, 120)))
    result = run_script("multiscale_time", str(photo), "--rounds", "1", "--threads", "1")
    assert result.returncode == 0, result.stderr
    rows = [line.strip("| ").split(" | ") for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == ["detector", "1 scale", "3 scales", "4 scales (MULTISCALE)"]
    assert [row[0] for row in rows[1:]] == ["SuperPoint", "default release, PyTorch", "default release, ONNX Runtime int8",
                                             "fast release, ONNX Runtime int8"]
    assert all(float(ms) > 0 for row in rows[1:] for ms in row[1:])
