"""The student that ships with the package."""
import numpy as np
from typer.testing import CliRunner

import distill
from distill.cli import app
from distill.eval.detectors import build_detectors
from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import load_hpatches
from distill.pretrained import SHA256, released_checkpoint
from teachers.weights import sha256_of


def test_released_student_is_the_pinned_file_and_detects_like_the_teacher(hpatches_root, tmp_path):
    path = released_checkpoint()
    assert sha256_of(path) == SHA256 and path.stat().st_size < 10 * 2**20
    student = distill.Detector.pretrained()
    sequences = load_hpatches(hpatches_root)
    released, teacher = evaluate([student.detector, build_detectors(["superpoint"])[0]], sequences, Protocol(), progress=False)
    assert released.repeatability() > 0.5 and released.repeatability() > teacher.repeatability() - 0.1
    assert released.localisation_error() < 1.5
    image = tmp_path / "photo.ppm"
    image.write_bytes((hpatches_root / "v_photo" / "1.ppm").read_bytes())
    result = CliRunner().invoke(app, ["detect", str(image), "--pretrained", "--top-k", "200", "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "out" / "photo.npz")["keypoints"].shape == (200, 3)
