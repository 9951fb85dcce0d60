"""The pixel convention (docs/api.md): keypoints are pixel centres at integer coordinates, and a resize by ``s``
maps ``x`` to ``s (x + 0.5) - 0.5``."""
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from distill.cli import app


def junction(size: int = 64) -> np.ndarray:
    """A checkerboard X-junction whose corner lies between pixels 31 and 32 of each axis: (31.5, 31.5)."""
    grey = np.full((size, size), 40, np.uint8)
    grey[: size // 2, : size // 2] = 200
    grey[size // 2:, size // 2:] = 200
    return grey


@pytest.mark.parametrize("size", [None, "128x128", "32x32"])
def test_a_known_corner_lands_on_the_same_original_pixel_at_any_detection_size(tmp_path, size):
    cv2.imwrite(str(tmp_path / "junction.png"), junction())
    args = ["detect", str(tmp_path / "junction.png"), "--out", str(tmp_path / "out"), "--detector", "shi",
            "--top-k", "1", "--subpixel"] + (["--size", size] if size else [])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    x, y = np.load(tmp_path / "out" / "junction.npz")["keypoints"][0]
    assert abs(x - 31.5) <= 0.1 and abs(y - 31.5) <= 0.1, (size, x, y)
