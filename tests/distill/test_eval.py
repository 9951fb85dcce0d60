import hashlib
import json
import time

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from distill.choices import MATCH_RESIZE, RESIZE
from distill.cli import app
from distill.detection.by_name import build_detectors
from distill.detection.detector import ScoreMapDetector
from distill.eval.best_scale import best_scale_markdown, best_scales
from distill.eval.protocol import DetectorResult, Protocol, SequenceResult, evaluate, rescale_homography
from distill.eval.repeatability import PairResult, pair_repeatability
from distill.eval.report import example_pairs
from distill.eval.sequences import HPatchesError, Sequence, load_hpatches
from distill.eval.speed import detection_ms
from teachers.homographies import warp_points as warp
from tests.conftest import HPATCHES_SIZE, shared_data, viewpoint_homography

def oracle(sequences, shift=0.0) -> ScoreMapDetector:
    """Returns fixed points on image 1 and their ground-truth warp (plus ``shift`` px) on image k."""
    xs, ys = np.meshgrid(np.arange(40, HPATCHES_SIZE[1] - 40, 20.0), np.arange(40, HPATCHES_SIZE[0] - 40, 20.0))
    base = np.column_stack([xs.ravel(), ys.ravel()])  # 20 px apart: a 5 px shift lands near no other point
    lookup = {}
    for seq in sequences:
        lookup[hashlib.sha1(seq.images[0].tobytes()).hexdigest()] = base
        for k, h in enumerate(seq.homographies, start=2):
            lookup[hashlib.sha1(seq.images[k - 1].tobytes()).hexdigest()] = warp(base, h) + shift

    def score(grey):
        scores = np.zeros(grey.shape, np.float32)
        points = np.round(lookup[hashlib.sha1(grey.tobytes()).hexdigest()]).astype(int)
        ok = (points[:, 0] >= 0) & (points[:, 0] < grey.shape[1]) & (points[:, 1] >= 0) & (points[:, 1] < grey.shape[0])
        scores[points[ok, 1], points[ok, 0]] = 1.0
        return torch.from_numpy(scores)

    return ScoreMapDetector("oracle", score)


def test_ground_truth_points_score_one_shifted_zero_random_low(hpatches_root):
    sequences = load_hpatches(hpatches_root)
    assert [s.kind for s in sequences] == ["i", "v"]
    protocol = Protocol(nms_radius=0)
    perfect, shifted = evaluate([oracle(sequences), oracle(sequences, shift=np.array([5.0, 0.0]))], sequences, protocol, progress=False)
    random = evaluate(build_detectors(["random"]), sequences, Protocol(), progress=False)[0]
    assert perfect.repeatability() == pytest.approx(1.0)
    assert perfect.localisation_error() < 0.8  # rounding to pixel centres only
    assert shifted.repeatability() == 0.0
    assert random.repeatability() < 0.3


def test_pair_repeatability_by_hand():
    h = np.array([[1.0, 0, 10], [0, 1, 0], [0, 0, 1]])
    p1 = np.array([[20.0, 20], [50, 50], [5, 5]])
    p2 = np.array([[30.0, 21], [90, 90], [60, 50]])  # (20,20)->(30,20): 1 px off; (50,50)->(60,50): exact
    result = pair_repeatability(p1, p2, h, (100, 100), (100, 100), epsilon=3)
    # (5,5) -> (15,5) stays inside; all three of image 2 map back inside
    assert (result.n1, result.n2, result.c1, result.c2) == (3, 3, 2, 2)
    assert result.repeatability == pytest.approx(4 / 6)
    assert result.localisation_error == pytest.approx(0.5)


def test_rescaled_homography_maps_resized_points():
    h = viewpoint_homography(3)
    scaled = rescale_homography(h, (480, 640), (600, 800), (240, 320))
    point = np.array([[100.0, 80.0]])
    # pixel centres at integer coordinates: x_original = (x + 0.5) * 2 - 0.5, x_resized = (x + 0.5) * 320 / 800 - 0.5
    expected = (warp((point + 0.5) * 2 - 0.5, h) + 0.5) * [320 / 800, 240 / 600] - 0.5
    assert np.allclose(warp(point, scaled), expected)


def test_malformed_sequences_are_named(hpatches_root, tmp_path):
    (hpatches_root / "v_photo" / "H_1_4").unlink()
    with pytest.raises(HPatchesError, match=r"v_photo/H_1_4: homography file is missing"):
        load_hpatches(hpatches_root)
    (hpatches_root / "i_photo" / "3.ppm").write_bytes(b"garbage")
    with pytest.raises(HPatchesError, match=r"i_photo/3.ppm: not a decodable image"):
        load_hpatches(hpatches_root)
    with pytest.raises(HPatchesError, match="HPATCHES_ROOT"):
        load_hpatches(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HPatchesError, match="no i_\\* or v_\\* sequence"):
        load_hpatches(tmp_path / "empty")


def test_eval_cli_writes_results(hpatches_root, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "hpatches", "--root", str(hpatches_root), "-d", "superpoint", "-d", "fast",
                                      "--out", str(out), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "results.json").read_text())
    assert [d["detector"] for d in payload["detectors"]] == ["superpoint", "fast"]
    assert payload["detectors"][0]["speed_ratio_to_superpoint"] == 1.0
    assert 0.3 < payload["detectors"][0]["repeatability"]["v"] <= 1.0
    assert all((out / name).is_file() for name in ("results.md", "repeatability.png", "keypoints.png", "quality_cost.png"))
    fast = payload["difference_from_superpoint"]["fast"]  # FAST's repeatability minus SuperPoint's, paired by sequence
    for kind in ("all", "i", "v"):
        reps = [d["repeatability"][kind] for d in payload["detectors"]]
        assert fast[kind]["value"] == pytest.approx(reps[1] - reps[0]) and fast[kind]["low"] <= fast[kind]["value"] <= fast[kind]["high"]
    assert "| fast | " in (out / "results.md").read_text().split("minus superpoint's")[1]
    bad = CliRunner().invoke(app, ["eval", "hpatches", "--root", str(tmp_path / "none")])
    assert bad.exit_code == 2 and "does not exist" in bad.output and "HPATCHES_ROOT" in bad.output


def test_eval_warped_is_labelled_synthetic(tmp_path):
    result = CliRunner().invoke(app, ["eval", "warped", "--photos", "1", "-d", "harris", "--no-speed",
                                      "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in (tmp_path / "results.md").read_text()
    assert "SYNTHETIC" in json.loads((tmp_path / "results.json").read_text())["title"]
    dark = CliRunner().invoke(app, ["eval", "warped", "--photos", "1", "-d", "harris", "--no-speed", "--illumination", "exposure",
                                    "--out", str(tmp_path / "dark"), "--quiet"])
    assert dark.exit_code == 0, dark.output
    title = json.loads((tmp_path / "dark" / "results.json").read_text())["title"]
    assert "i_* an exposure series" in title and "SYNTHETIC" in title
    blur = CliRunner().invoke(app, ["eval", "warped", "--photos", "1", "-d", "harris", "--no-speed", "--illumination", "blur",
                                    "--out", str(tmp_path / "blur"), "--quiet"])
    assert blur.exit_code == 0, blur.output
    assert "i_* a defocus series" in json.loads((tmp_path / "blur" / "results.json").read_text())["title"]


def test_eval_warped_defaults_to_photos_no_student_trains_on(tmp_path):
    from labels.images import embedded_images, held_out_images

    held_out = held_out_images()
    assert len(held_out) == 3 and not {p.read_bytes() for p in held_out} & {p.read_bytes() for p in embedded_images()}
    result = CliRunner().invoke(app, ["eval", "warped", "-d", "harris", "--no-speed", "--out", str(tmp_path / "a"), "--quiet"])
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "a" / "results.json").read_text())
    assert "3 held-out photos" in payload["title"]
    assert payload["sequences"] == [f"{kind}_{p.stem}" for p in held_out for kind in "iv"]
    given = CliRunner().invoke(app, ["eval", "warped", "--images", str(held_out[0]), "-d", "harris", "--no-speed",
                                     "--out", str(tmp_path / "b"), "--quiet"])
    assert given.exit_code == 0, given.output
    assert json.loads((tmp_path / "b" / "results.json").read_text())["sequences"] == ["i_text", "v_text"]


def test_detect_writes_points_in_original_pixels(hpatches_root, tmp_path):
    runner = CliRunner()
    full = runner.invoke(app, ["detect", str(hpatches_root), "--out", str(tmp_path / "a"), "--detector", "harris", "--top-k", "50"])
    half = runner.invoke(app, ["detect", str(hpatches_root), "--out", str(tmp_path / "b"), "--detector", "harris",
                               "--top-k", "50", "--size", "120x160"])
    assert full.exit_code == 0 and half.exit_code == 0, full.output + half.output
    a = np.load(tmp_path / "a" / "v_photo" / "1.npz")["keypoints"]
    b = np.load(tmp_path / "b" / "v_photo" / "1.npz")["keypoints"]
    assert a.shape == (50, 2) and b[:, 0].max() > 160  # mapped back to the 320-wide original
    ait = runner.invoke(app, ["detect", str(hpatches_root), "--out", str(tmp_path / "c"), "--detector", "fast",
                              "--format", "ait", "--top-k", "300"])
    assert ait.exit_code == 0
    dense = np.load(tmp_path / "c" / "i_photo" / "2_det.npy")
    assert dense.shape == HPATCHES_SIZE and 0 < (dense > 0).sum() <= 300


REFERENCE = {"superpoint": 0.63, "shi": 0.62, "harris": 0.61, "fast": 0.59}


def test_reference_figures_on_real_hpatches():
    sequences = load_hpatches(shared_data("hpatches-real"))
    results = evaluate(build_detectors(list(REFERENCE)), sequences, Protocol(), progress=False)
    for result in results:
        assert abs(result.repeatability() - REFERENCE[result.detector]) <= 0.03, (result.detector, result.repeatability())


def test_interleaved_timing_keeps_each_detector_apart():
    """Timed in turns, a detector that sleeps 20 ms per image measures about 20 ms more than the
    one timed right after it, which does not sleep."""
    def score(grey, pause=0.0):
        time.sleep(pause)
        return torch.from_numpy(grey.astype(np.float32))

    quick = ScoreMapDetector("quick", score)
    slow = ScoreMapDetector("slow", lambda grey: score(grey, 0.02))
    grey = np.random.default_rng(0).integers(0, 255, (48, 64), dtype=np.uint8)
    slow_ms, quick_ms = detection_ms([slow, quick], grey, top_k=50, warmup=1, rounds=5)
    assert quick_ms < 15 and 19 < slow_ms < 60


def test_ait_protocol_scores_at_full_resolution(hpatches_root):
    """The assignment's evaluator works at each image's own size: an oracle is perfect there, and on
    images already 240x320 it agrees with the standard protocol."""
    sequences = load_hpatches(hpatches_root)
    protocol = Protocol.named("ait")
    assert protocol.size is None and protocol.top_k == 300 and protocol.epsilon == 3
    full = evaluate([oracle(sequences), build_detectors(["harris"])[0]], sequences, protocol, progress=False)
    standard = evaluate(build_detectors(["harris"]), sequences, Protocol(), progress=False)[0]
    assert full[0].repeatability() == pytest.approx(1.0)
    assert full[1].repeatability() == pytest.approx(standard.repeatability())


def test_subpixel_refinement_applies_to_every_detector_alike(hpatches_root):
    sequences = load_hpatches(hpatches_root)
    detectors = build_detectors(["harris", "superpoint"])
    plain, refined = (evaluate(detectors, sequences, Protocol(subpixel=flag), progress=False) for flag in (False, True))
    for a, b in zip(plain, refined):
        assert a.localisation_error() != b.localisation_error()  # points moved off the pixel grid
        assert abs(a.repeatability() - b.repeatability()) < 0.05


def test_detecting_at_half_scale_maps_points_back_to_full_resolution(hpatches_root):
    """Harris detected at half size and scored at full size (3 px) is Harris scored at half size
    (1.5 px): the same points, every distance doubled by the pixel-centre mapping."""
    sequences = load_hpatches(hpatches_root)
    harris = build_detectors(["harris"])
    half = (HPATCHES_SIZE[0] // 2, HPATCHES_SIZE[1] // 2)
    at_half = evaluate(harris, sequences, Protocol(size=half, epsilon=1.5), progress=False)[0]
    mapped = evaluate(harris, sequences, Protocol(size=None, detect_scale=0.5), progress=False)[0]
    assert mapped.repeatability() == pytest.approx(at_half.repeatability(), abs=0.01)
    assert mapped.localisation_error() == pytest.approx(2 * at_half.localisation_error(), rel=0.02)
    assert Protocol(detect_scale=0.5).describe().startswith("240x320 grey, detected at 0.5x")


def test_eval_at_several_scales_lists_each_detectors_best_scale(hpatches_root, tmp_path):
    """``--detect-scale`` repeated: one evaluation per scale in ``scale-S/``, and best-scale.json holds,
    for each detector and kind, the highest of those repeatabilities and the scale that gave it."""
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "hpatches", "--root", str(hpatches_root), "-d", "harris", "-d", "fast",
                                      "--protocol", "ait", "--detect-scale", "1", "--detect-scale", "0.5", "--no-speed",
                                      "--out", str(out), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    per_scale = {}
    for scale in (1.0, 0.5):
        payload = json.loads((out / f"scale-{scale:g}" / "results.json").read_text())
        assert payload["protocol"]["detect_scale"] == scale and payload["protocol"]["size"] is None
        per_scale[scale] = {d["detector"]: d["repeatability"] for d in payload["detectors"]}
    best = json.loads((out / "best-scale.json").read_text())["detectors"]
    assert list(best) == ["harris", "fast"]
    for detector, kinds in best.items():
        for kind in ("i", "v", "all"):
            values = {scale: per_scale[scale][detector][kind] for scale in per_scale}
            top = max(values, key=values.get)
            assert kinds[kind] == {"repeatability": values[top], "scale": top}
    assert per_scale[1.0] != per_scale[0.5]  # the scales were evaluated apart
    table = (out / "best-scale.md").read_text()
    assert "| harris |" in table and "| harris |" in result.output and "Protocol: full resolution grey, NMS radius 4" in table


def test_best_scale_takes_the_first_of_equal_scales_and_leaves_out_absent_kinds():
    def result(repeatability: float) -> DetectorResult:
        pair = PairResult(repeatability, 1.0, 10, 10, 0, 0)
        return DetectorResult("d", [SequenceResult("i_a", "i", [pair])])

    best = best_scales({1.0: [result(0.5)], 0.5: [result(0.7)], 0.75: [result(0.7)]})["d"]
    assert best["i"] == {"repeatability": 0.7, "scale": 0.5} and best["all"]["scale"] == 0.5
    assert "v" not in best
    assert "| d | 0.700 (0.5) | – | 0.700 (0.5) |" in best_scale_markdown({"d": best}, [1.0, 0.5, 0.75], "t", "p")


def test_eval_protocols_take_a_config_file_set_and_show_config(tmp_path):
    """The named protocol is the base; --config, --set and the options override it, typed and checked."""
    import yaml

    (tmp_path / "protocol.yaml").write_text("epsilon: 1.5\ntop_k: 500\n")
    result = CliRunner().invoke(app, ["eval", "hpatches", "--protocol", "large", "--config", str(tmp_path / "protocol.yaml"),
                                      "--set", "nms_radius=2", "--subpixel", "--show-config"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output) == {"size": [480, 640], "top_k": 500, "epsilon": 1.5, "nms_radius": 2, "subpixel": True,
                                             "detect_scale": 1.0, "resize": None, "scales": [1.0]}
    ait = CliRunner().invoke(app, ["eval", "warped", "--protocol", "ait", "--show-config"])
    assert ait.exit_code == 0 and yaml.safe_load(ait.output)["size"] is None
    assert yaml.safe_load(ait.output)["resize"] == RESIZE  # the API's working resolution
    full = CliRunner().invoke(app, ["eval", "warped", "--protocol", "ait", "--set", "resize=null", "--show-config"])
    assert full.exit_code == 0 and yaml.safe_load(full.output)["resize"] is None
    matching = CliRunner().invoke(app, ["eval", "matching", "--max-keypoints", "512", "--set", "ransac_px=2", "--set", "scales=[1, 0.5]",
                                        "--set", "filter_threshold=0.7", "--set", "lightglue_depth_confidence=0.95", "--show-config"])
    assert matching.exit_code == 0, matching.output
    assert yaml.safe_load(matching.output) == {"size": [480, 640], "max_keypoints": 512, "nms_radius": 4, "ransac_px": 2.0,
                                               "ransac_draws": 1, "subpixel": False, "scales": [1.0, 0.5], "resize": MATCH_RESIZE,
                                               "filter_threshold": 0.7, "lightglue_depth_confidence": 0.95,
                                               "lightglue_width_confidence": -1.0}
    pruned = CliRunner().invoke(app, ["eval", "matching", "--set", "lightglue_width_confidence=1", "--show-config"])
    assert pruned.exit_code != 0 and "lightglue_width_confidence must be -1 (off) or in (0, 1)" in pruned.output
    certain = CliRunner().invoke(app, ["eval", "matching", "--set", "filter_threshold=1", "--show-config"])
    assert certain.exit_code != 0 and "filter_threshold" in certain.output


def test_seeds_of_one_recipe_get_a_mean_row_and_an_interval(hpatches_root, seed_checkpoints, tmp_path):
    """Two checkpoints equal but for their seed (the released student twice, so the seeds agree exactly): eval hpatches
    adds their mean ± std and the mean's difference from SuperPoint, equal to each seed's."""
    paths = seed_checkpoints
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "hpatches", "--root", str(hpatches_root), "-d", "superpoint", "--checkpoint", paths[0],
                                      "--checkpoint", paths[1], "--no-speed", "--out", str(out), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "results.json").read_text())
    (row,) = payload["seed_groups"]
    student = payload["detectors"][1]
    assert row["repeatability all"]["mean"] == pytest.approx(student["repeatability"]["all"]) and row["repeatability all"]["std"] == 0
    single = payload["difference_from_superpoint"][student["detector"]]
    assert row["difference"]["v"]["value"] == pytest.approx(single["v"]["value"])
    assert "Seeds of one recipe" in (out / "results.md").read_text()


def test_the_keypoint_figure_adds_the_sequence_the_students_lose_most():
    image, shift = np.zeros((8, 8), np.uint8), np.eye(3)
    sequences = [Sequence(name, [image] * 3, [shift] * 2) for name in ("i_a", "v_b", "v_c", "v_d")]

    def result(name, reps):
        return DetectorResult(name, [SequenceResult(s.name, s.kind, [PairResult(r, 0.5, 10, 10, 5, 5)])
                                     for s, r in zip(sequences, reps)])

    teacher = result("superpoint", [0.8, 0.7, 0.7, 0.7])
    students = [result("student:a", [0.9, 0.5, 0.6, 0.8]), result("student:b", [0.9, 0.7, 0.5, 0.8])]
    shown = [(s.name, k) for s, k in example_pairs(sequences, [teacher, *students])]
    # the easy pair, the first viewpoint sequence's last pair, then v_c: the students' mean trails by 0.15 there (v_b: 0.1)
    assert shown == [("i_a", 1), ("v_b", 2), ("v_c", 2)]
    # without the teacher, or where the students lead everywhere, the figure keeps its two pairs
    assert len(example_pairs(sequences, students)) == 2
    assert len(example_pairs(sequences, [teacher, result("student:c", [0.9, 0.8, 0.8, 0.8])])) == 2
    # the sequence they lose most on is already shown: not twice
    assert len(example_pairs(sequences, [teacher, result("student:d", [0.9, 0.4, 0.8, 0.8])])) == 2
