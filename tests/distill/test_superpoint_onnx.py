"""SuperPoint in ONNX Runtime, and the speed benchmark that times it in every runtime. Every test that needs its int8
model (about 70 s of calibration on 2 cores) lives in this file, so that ``pytest -n 2 --dist loadfile`` makes it once."""
import json
import os
import sys

import cv2
import numpy as np
import torch
from typer.testing import CliRunner

from distill.api import Detector, load_detectors
from distill.cli import app
from distill.student.superpoint_onnx import superpoint_onnx_detector, superpoint_onnx_model
from distill.student.onnx_cache import SOURCE_KEY, metadata
from teachers import weights
from tests.conftest import embedded


def test_superpoint_in_onnx_runtime_gives_pytorchs_points_and_descriptors():
    """SuperPoint exported to ONNX: on a real photo, the same keypoints as in PyTorch and descriptors within
    float error; int8 keeps most points. Both models are cached, bound to the weights' sha256."""
    grey = cv2.resize(cv2.imread(str(embedded("astronaut")), cv2.IMREAD_GRAYSCALE), (320, 240))
    reference = load_detectors(["superpoint"], "cpu")[0](grey, top_k=200, resize=None)
    exported = Detector(superpoint_onnx_detector("onnx"))(grey, top_k=200, resize=None)
    assert np.array_equal(exported.keypoints, reference.keypoints)
    assert np.abs(exported.descriptors - reference.descriptors).max() < 1e-4
    quantised = Detector(superpoint_onnx_detector("onnx-int8"))(grey, top_k=200, resize=None)
    shared = {tuple(p) for p in quantised.keypoints.round().astype(int)} & {tuple(p) for p in reference.keypoints.astype(int)}
    assert len(shared) > 0.6 * 200 and quantised.descriptors.shape == (200, 256)
    model = superpoint_onnx_model(int8=True)
    assert metadata(model)[SOURCE_KEY] == weights.sha256_of(weights.locate(weights.SUPERPOINT))
    written = model.stat().st_mtime_ns
    assert superpoint_onnx_model(int8=True).stat().st_mtime_ns == written  # reused, not made again


def test_a_damaged_cached_superpoint_model_is_made_again():
    path = superpoint_onnx_model(int8=False)
    path.write_bytes(b"not onnx")
    assert superpoint_onnx_model(int8=False) == path and metadata(path) is not None
    probability = superpoint_onnx_detector("onnx").score_map(np.zeros((64, 64), np.uint8))
    assert isinstance(probability, torch.Tensor) and probability.shape == (64, 64)


def test_bench_speed_times_every_runtime_end_to_end(tmp_path):
    result = CliRunner().invoke(app, ["bench", "speed", "--checkpoint", "pretrained:fast", "-d", "shi", "--rounds", "2",
                                      "--out", str(tmp_path / "speed")])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "speed" / "results.json").read_text())
    assert [(r["runtime"]) for r in table["rows"]] == ["torch", "onnx", "onnx-int8", "opencv", "torch", "onnx", "onnx-int8"]
    assert table["rows"][3]["detector"] == "shi" and "| shi | OpenCV |" in result.output
    assert all(r["ms"] > 0 and r["network_ms"] > 0 for r in table["rows"])
    headline = table["headlines"][0]
    assert headline["student"] == "pretrained:fast" and headline["runtime"] != "onnx-int8"  # int8 needs --root to compete
    assert "fastest runtime" in result.output
    if sys.platform.startswith("linux") and not any(k.startswith(("MALLOC_", "GLIBC_TUNABLES")) for k in os.environ):
        assert table["freed_memory_kept"] is True and "freed memory kept in the process" in result.output


def test_bench_speed_with_descriptors_times_what_a_matcher_takes(tmp_path, keypoints_only_checkpoint):
    result = CliRunner().invoke(app, ["bench", "speed", "--checkpoint", "pretrained", "--descriptors", "--rounds", "1",
                                      "--out", str(tmp_path / "speed")])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "speed" / "results.json").read_text())
    assert table["descriptors"] is True and table["top_k"] == 1024
    assert [r["runtime"] for r in table["rows"]] == ["torch", "onnx", "onnx-int8"] * 2
    assert all(r["ms"] > 0 and r["network_ms"] > 0 for r in table["rows"])
    assert "keypoints and their descriptors out" in result.output
    keypoints_only = CliRunner().invoke(app, ["bench", "speed", "--checkpoint", str(keypoints_only_checkpoint), "--descriptors",
                                              "--out", str(tmp_path / "x")])
    assert keypoints_only.exit_code == 2 and f"{keypoints_only_checkpoint}: no descriptor head" in keypoints_only.output
    classical = CliRunner().invoke(app, ["bench", "speed", "--checkpoint", "pretrained", "--descriptors", "-d", "shi",
                                         "--out", str(tmp_path / "y")])
    assert classical.exit_code == 2 and "keypoints only" in classical.output


def test_matching_runs_superpoint_in_the_runtime_asked(image_folder, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "matching", "--images", str(image_folder / "camera.png"), "--size", "120x160",
                                      "-m", "superpoint+mnn", "--superpoint-runtime", "onnx", "--out", str(out), "--quiet",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "results.json").read_text())
    assert payload["superpoint_runtime"] == "onnx" and payload["methods"][0]["auc"]["5px"] > 0.3
    assert "SuperPoint in ONNX Runtime" in (out / "results.md").read_text()
