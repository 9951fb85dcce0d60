"""The student that ships with the package."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import distill
from distill.cli import app
from distill.detection.by_name import build_detectors
from distill.detection.detector import describe
from distill.eval.matching import MatchingProtocol, lightglue_matcher, network_extractor
from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import load_hpatches
from distill.pretrained import RELEASES, released_checkpoint
from distill.student.checkpoint import CheckpointError
from labels.images import read_grey
from teachers.homographies import warp_points
from teachers.weights import sha256_of


@pytest.mark.parametrize("name", RELEASES)
def test_released_students_are_the_pinned_files_and_detect_like_the_teacher(name, hpatches_root, tmp_path):
    path = released_checkpoint(name)
    assert sha256_of(path) == RELEASES[name].sha256 and path.stat().st_size < 10 * 2**20
    student = distill.Detector.pretrained(name)
    sequences = load_hpatches(hpatches_root)
    released, teacher = evaluate([student.detector, build_detectors(["superpoint"])[0]], sequences, Protocol(), progress=False)
    assert released.repeatability() > 0.5 and released.repeatability() > teacher.repeatability() - 0.1
    assert released.localisation_error() < 1.5
    image = tmp_path / "photo.ppm"
    image.write_bytes((hpatches_root / "v_photo" / "1.ppm").read_bytes())
    result = CliRunner().invoke(app, ["detect", str(image), "--pretrained", "--release", name, "--top-k", "200", "--out",
                                      str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    saved = np.load(tmp_path / "out" / "photo.npz")
    assert saved["keypoints"].shape == (200, 2) and saved["scores"].shape == (200,) and (np.diff(saved["scores"]) <= 0).all()


def test_released_student_matches_a_warp_with_the_stock_lightglue(hpatches_root):
    """The released student's keypoints and descriptors, matched by kornia's LightGlue with the
    unchanged SuperPoint weights: most matches of a photo and its known warp agree with the homography."""
    student = distill.Detector.pretrained().detector
    extract = network_extractor(student, MatchingProtocol(max_keypoints=512))
    images = [read_grey(hpatches_root / "v_photo" / f"{k}.ppm") for k in (1, 3)]
    a, b = extract(images[0]), extract(images[1])
    pairs, scores = lightglue_matcher()(a, b, images[0].shape)
    assert len(scores) == len(pairs) and ((scores > 0) & (scores <= 1)).all()
    truth = np.loadtxt(hpatches_root / "v_photo" / "H_1_3")
    error = np.linalg.norm(warp_points(a.keypoints[pairs[:, 0]], truth) - b.keypoints[pairs[:, 1]], axis=1)
    assert len(pairs) > 100 and (error < 3).mean() > 0.8, (len(pairs), (error < 3).mean())


def test_a_filter_threshold_keeps_the_confident_part_of_the_same_matches(hpatches_root):
    """``MatchingProtocol.filter_threshold``: LightGlue's own mutual matches, only those above that confidence (its
    filter_threshold; 0.1 by default), so a higher threshold keeps a subset of the default's matches with their scores."""
    student = distill.Detector.pretrained().detector
    extract = network_extractor(student, MatchingProtocol(max_keypoints=512))
    a, b = (extract(read_grey(hpatches_root / "v_photo" / f"{k}.ppm")) for k in (1, 4))
    size = a.image_size
    pairs, scores = lightglue_matcher()(a, b, size)
    confident, confident_scores = lightglue_matcher(filter_threshold=0.7)(a, b, size)
    assert 0 < len(confident) < len(pairs) and (confident_scores > 0.7).all()
    kept = {tuple(p): s for p, s in zip(pairs.tolist(), scores)}
    assert all(kept.get(tuple(p)) == pytest.approx(s, abs=1e-5) for p, s in zip(confident.tolist(), confident_scores))
    assert len(confident) == int((scores > 0.7).sum())
    with pytest.raises(ValueError, match="filter_threshold"):
        MatchingProtocol(filter_threshold=1.0)


def test_a_release_matches_above_its_own_confidence_threshold_unless_told_otherwise(hpatches_root, tmp_path):
    """Each release carries the LightGlue confidence threshold chosen for it on validation photos, by name or as a copy
    of its file (by sha256); distill.match keeps exactly the matches above it, a threshold given wins, and SuperPoint
    keeps LightGlue's default."""
    release = distill.Detector.pretrained(device="cpu")
    copy = tmp_path / "copy.pt"
    copy.write_bytes(released_checkpoint("default").read_bytes())
    assert release.filter_threshold == RELEASES["default"].filter_threshold == 0.7
    assert release.name == "student:pretrained:default"  # reports name a release, not its file
    assert distill.Detector.load(copy, "cpu").filter_threshold == 0.7
    assert distill.Detector.pretrained("fast", "cpu", runtime="onnx-int8").filter_threshold == RELEASES["fast"].filter_threshold
    assert distill.Detector.superpoint("cpu").filter_threshold is None
    images = [read_grey(hpatches_root / "v_photo" / f"{k}.ppm") for k in (1, 4)]
    own = distill.match(*images, release, device="cpu")
    told = distill.match(*images, release, device="cpu", filter_threshold=0.1)
    assert (own.scores > 0.7).all() and 0 < len(own.matches) == int((told.scores > 0.7).sum()) < len(told.matches)
    assert distill.Matcher("superpoint", device="cpu").filter_threshold == 0.1


def test_eval_matching_gives_each_method_its_own_threshold(hpatches_root, tmp_path):
    """A release's LightGlue rows take its threshold and SuperPoint's LightGlue's default, both named in the report;
    ``--set filter_threshold=T`` sets one for every method."""
    common = ["eval", "matching", "--root", str(hpatches_root), "--only", "v", "--size", "240x320", "--checkpoint", "pretrained",
              "-m", "student+lightglue", "-m", "superpoint+lightglue", "--quiet", "--device", "cpu"]
    for extra, expected in (([], {"student+lightglue": 0.7, "superpoint+lightglue": 0.1}),
                            (["--set", "filter_threshold=0.3"], {"student+lightglue": 0.3, "superpoint+lightglue": 0.3})):
        out = tmp_path / str(len(extra))
        result = CliRunner().invoke(app, [*common, *extra, "--out", str(out)])
        assert result.exit_code == 0, result.output
        methods = json.loads((out / "results.json").read_text())["methods"]
        assert {m["method"]: m["filter_threshold"] for m in methods} == expected
    report = (tmp_path / "0" / "results.md").read_text()
    assert "each network's own confidence threshold (student+lightglue 0.7, superpoint+lightglue 0.1" in report
    assert "LightGlue matches above 0.3 confidence" in (tmp_path / "2" / "results.md").read_text()


def test_an_extractor_can_take_its_descriptors_from_another_network(hpatches_root):
    """``network_extractor(student, protocol, superpoint)``: the student's keypoints with SuperPoint's
    descriptors sampled at them (scripts/matching_halves.py)."""
    student = distill.Detector.pretrained().detector
    superpoint = build_detectors(["superpoint"])[0]
    grey = read_grey(hpatches_root / "v_photo" / "1.ppm")
    protocol = MatchingProtocol(max_keypoints=256)
    own, mixed = network_extractor(student, protocol)(grey), network_extractor(student, protocol, superpoint)(grey)
    assert np.array_equal(own.keypoints, mixed.keypoints)
    assert np.allclose(mixed.descriptors, describe(superpoint, grey, own.keypoints))
    assert not np.allclose(mixed.descriptors, own.descriptors, atol=0.05)


def test_an_unknown_release_is_named_with_the_ones_there_are():
    with pytest.raises(CheckpointError, match="no released student 'tiny'; the releases are default, fast"):
        released_checkpoint("tiny")


def test_fast_release_in_int8_keeps_its_points(hpatches_root, tmp_path):
    """The fast release is meant for ONNX Runtime int8: exported (static padding: seconds) and quantised,
    it detects nearly the points of its PyTorch self on a real photo."""
    copy = tmp_path / "fast.pt"
    copy.write_bytes(released_checkpoint("fast").read_bytes())
    grey = read_grey(hpatches_root / "v_photo" / "1.ppm")
    torch_points = distill.Detector.from_checkpoint(copy)(grey, top_k=200).keypoints
    int8_points = distill.Detector.from_checkpoint(copy, runtime="onnx-int8")(grey, top_k=200).keypoints
    nearest = np.linalg.norm(int8_points[:, None] - torch_points[None], axis=2).min(axis=1)
    assert (nearest <= 1).mean() > 0.8, (nearest <= 1).mean()
