import json

import numpy as np
import pytest
from typer.testing import CliRunner

from distill.cli import app
from distill.eval.matching import (MatchingProtocol, build_methods, corner_error, draw_orders, evaluate_matching,
                                   homography_inliers, pose_auc)
from distill.eval.sequences import load_hpatches


def test_auc_of_known_corner_errors():
    """One pair with a 1 px error: the recall curve rises linearly from 0 at 0 px to 1 at 1 px, then
    stays at 1, so the area up to 3 px is 0.5 + 2 = 2.5 and AUC@3px = 2.5 / 3; a failed estimate (inf)
    counts as a miss at every threshold."""
    assert pose_auc([1.0], 3) == pytest.approx(2.5 / 3)
    assert pose_auc([0.5], 1) == pytest.approx(0.75)  # 0.5 * 0.5 * 1 + 0.5 * 1
    assert pose_auc([1.0, np.inf], 3) == pytest.approx(0.5 * (0.5 * 0.5 + 2 * 0.5) / 3 * 2)
    assert pose_auc([0.0, 0.0], 5) == pytest.approx(1.0) and pose_auc([7.0], 5) == 0.0


def test_corner_error_of_a_shifted_estimate():
    truth = np.eye(3)
    shifted = np.array([[1.0, 0, 2], [0, 1, 0], [0, 0, 1]])
    assert corner_error(shifted, truth, (480, 640)) == pytest.approx(2.0)
    assert corner_error(None, truth, (480, 640)) == np.inf


def test_ransac_finds_a_known_homography_among_outliers_the_same_on_every_run():
    """Two thirds outliers: USAC_MAGSAC recovers the homography within 1 px at the corners and the inliers it was
    given; it seeds its own sampler, so OpenCV's global seed does not change its answer (the protocol has no seed)."""
    import cv2

    from teachers.homographies import warp_points

    rng = np.random.default_rng(0)
    truth = np.array([[1.1, 0.05, 10], [0.02, 0.95, -5], [1e-4, 5e-5, 1]])
    points0 = rng.uniform(0, 640, (300, 2))
    points1 = warp_points(points0, truth) + rng.normal(0, 0.5, (300, 2))
    points1[:200] = rng.uniform(0, 640, (200, 2))
    answers = []
    for seed in (0, 1):
        cv2.setRNGSeed(seed)
        answers.append(homography_inliers(points0, points1, MatchingProtocol()))
    (estimate, inliers), (again, inliers_again) = answers
    assert corner_error(estimate, truth, (480, 640)) < 1 and inliers[200:].mean() > 0.95 and inliers[:200].mean() < 0.05
    assert np.array_equal(estimate, again) and np.array_equal(inliers, inliers_again)


def test_ransac_draws_see_the_matches_in_other_orders_and_average_the_auc(hpatches_root):
    """ORB's real matches on a photo's warps, every homography estimated from the matches in three orders: the first
    draw is the one-draw protocol's estimate, the others are seeded permutations, and AUC is the mean of the draws'."""
    orders = draw_orders(50, 3)
    assert np.array_equal(orders[0], np.arange(50)) and all(sorted(o) == list(range(50)) for o in orders[1:])
    assert not np.array_equal(orders[1], orders[2]) and np.array_equal(orders[1], draw_orders(50, 2)[1])
    sequences = load_hpatches(hpatches_root)
    protocol = MatchingProtocol(size=(240, 320), max_keypoints=300)
    single, = evaluate_matching(build_methods(["orb+hamming"], "cpu", protocol), sequences, protocol, progress=False)
    drawn = MatchingProtocol(size=(240, 320), max_keypoints=300, ransac_draws=3)
    triple, = evaluate_matching(build_methods(["orb+hamming"], "cpu", drawn), sequences, drawn, progress=False)
    assert all(len(p.corner_errors) == 3 and p.corner_errors[0] == p.corner_error == q.corner_error
               for p, q in zip(triple.pairs, single.pairs))
    for threshold in (1, 3):
        per_draw = [pose_auc([p.corner_errors[d] for p in triple.pairs], threshold) for d in range(3)]
        assert triple.auc(threshold) == pytest.approx(np.mean(per_draw))
    assert single.auc(3) == pytest.approx(per_draw[0])
    with pytest.raises(ValueError, match="ransac_draws"):
        MatchingProtocol(ransac_draws=0)


def test_matching_cli_with_lightglue_on_a_known_homography(hpatches_root, tmp_path):
    """A real SuperPoint + LightGlue match of a photo and its warps: homographies within a few pixels."""
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "matching", "--root", str(hpatches_root), "--only", "v", "--size", "240x320",
                                      "-m", "superpoint+lightglue", "-m", "orb+hamming", "--out", str(out), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "results.json").read_text())
    lightglue = payload["methods"][0]
    assert lightglue["method"] == "superpoint+lightglue" and lightglue["matches"] > 50
    assert lightglue["auc"]["5px"] > 0.5 and lightglue["mma"]["3px"] > 0.8
    assert lightglue["auc_i"]["3px"] is None and "| — / " in (out / "results.md").read_text()  # --only v: no i pairs, no i figure
    assert all((out / name).is_file() for name in ("results.md", "auc_time.png", "matches.png"))
    assert "LightGlue at full depth" in (out / "results.md").read_text()  # the header says how LightGlue ran
    assert payload["protocol"]["lightglue_depth_confidence"] == -1
    orb = payload["difference_from_superpoint_lightglue"]["orb+hamming"]  # ORB's AUC@3px minus SuperPoint + LightGlue's
    assert orb["all"]["value"] == pytest.approx(payload["methods"][1]["auc"]["3px"] - lightglue["auc"]["3px"])
    assert orb["all"]["low"] <= orb["all"]["value"] <= orb["all"]["high"] and orb["i"] is None  # --only v
    assert orb["v"]["value"] == pytest.approx(orb["all"]["value"])
    bad = CliRunner().invoke(app, ["eval", "matching", "--root", str(hpatches_root), "-m", "sift+lightglue", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown matching method" in bad.output


def test_match_command_draws_inliers_of_a_real_warp(hpatches_root, tmp_path):
    """`distill match` with SuperPoint + LightGlue on a photo and its known warp: most matches are
    homography inliers, the counts are printed and the picture is written."""
    out = tmp_path / "pair.png"
    result = CliRunner().invoke(app, ["match", str(hpatches_root / "v_photo" / "1.ppm"), str(hpatches_root / "v_photo" / "3.ppm"),
                                      "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    counts = dict(line.split(None, 1) for line in result.output.splitlines())
    assert int(counts["matches"]) > 50 and int(counts["inliers"]) > 0.8 * int(counts["matches"])
    assert counts["threshold"] == "0.1 (LightGlue's confidence)"  # SuperPoint: LightGlue's default
    assert out.stat().st_size > 10_000
    fused = CliRunner().invoke(app, ["match", str(hpatches_root / "v_photo" / "1.ppm"), str(hpatches_root / "v_photo" / "3.ppm"),
                                     "--multiscale", "--out", str(tmp_path / "fused.png"), "--device", "cpu"])
    assert fused.exit_code == 0, fused.output
    fused_counts = dict(line.split(None, 1) for line in fused.output.splitlines())
    assert int(fused_counts["inliers"]) > 0.8 * int(fused_counts["matches"])
    assert not np.array_equal(np.load(tmp_path / "fused.npz")["keypoints0"], np.load(out.with_suffix(".npz"))["keypoints0"])
    confident = CliRunner().invoke(app, ["match", str(hpatches_root / "v_photo" / "1.ppm"), str(hpatches_root / "v_photo" / "3.ppm"),
                                         "--filter-threshold", "0.9", "--out", str(tmp_path / "confident.png"), "--device", "cpu"])
    assert confident.exit_code == 0, confident.output
    scores, kept = np.load(out.with_suffix(".npz"))["scores"], np.load(tmp_path / "confident.npz")["scores"]
    assert len(kept) == int((scores > 0.9).sum()) < len(scores) and (kept > 0.9).all()  # the default's confident matches
    tiny = CliRunner().invoke(app, ["match", str(hpatches_root / "v_photo" / "1.ppm"), str(hpatches_root / "v_photo" / "3.ppm"),
                                    "--resize", "4", "--out", str(tmp_path / "tiny.png")])
    assert tiny.exit_code == 2 and "--resize 4" in tiny.output
    missing = CliRunner().invoke(app, ["match", str(tmp_path / "nope.png"), str(hpatches_root / "v_photo" / "3.ppm")])
    assert missing.exit_code == 2 and "nope.png" in missing.output and "does not exist" in missing.output


def test_matching_on_synthetic_warps_of_photos_with_subpixel_points(image_folder, tmp_path):
    """``--images``: synthetic sequences of the photos, scored as HPatches; ``--subpixel`` moves SuperPoint's points
    off the pixel grid; HPatches and photos together, or two sources of photos, are refused."""
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "matching", "--images", str(image_folder / "camera.png"), "--size", "120x160",
                                      "-m", "superpoint+mnn", "--subpixel", "--out", str(out), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "results.json").read_text())
    assert [p["sequence"] for p in payload["methods"][0]["pairs"]] == ["i_camera"] * 5 + ["v_camera"] * 5
    assert payload["methods"][0]["auc"]["5px"] > 0.3 and payload["protocol"]["subpixel"] is True
    report = (out / "results.md").read_text()
    assert "SYNTHETIC" in report and "subpixel" in report
    auc = {kind: payload["methods"][0]["auc_" + kind]["3px"] for kind in "iv"}
    assert f"| i_camera | {auc['i']:.3f} |" in report and f"| v_camera | {auc['v']:.3f} |" in report  # the per-sequence table
    both = CliRunner().invoke(app, ["eval", "matching", "--images", str(image_folder), "--root", str(tmp_path), "--out", str(tmp_path / "x")])
    assert both.exit_code == 2 and "choose HPatches or synthetic" in both.output
    two = CliRunner().invoke(app, ["eval", "matching", "--images", str(image_folder), "--validation", str(tmp_path / "s.h5"),
                                   "--out", str(tmp_path / "y")])
    assert two.exit_code == 2 and "choose one source of photos" in two.output


def test_stronger_synthetic_warps_move_the_corners_further():
    """``strength`` scales the viewpoint warps: at 2 the image corners move further than at 1, on the same seed."""
    from distill.eval.synthetic_warps import warped_sequences
    from tests.conftest import embedded
    from teachers.homographies import warp_points

    def corner_shift(strength: float) -> float:
        v = [s for s in warped_sequences([embedded("camera")], (120, 160), seed=0, strength=strength) if s.kind == "v"][0]
        corners = np.array([[0, 0], [159, 0], [159, 119], [0, 119]], float)
        return float(np.mean([np.linalg.norm(warp_points(corners, h) - corners, axis=1).mean() for h in v.homographies]))

    assert corner_shift(2.0) > 1.2 * corner_shift(1.0)


def test_an_exposure_series_darkens_the_i_sequences_and_leaves_the_v_ones_alone():
    """``illumination="exposure"``: each ``i_`` frame about ``2^(-3k/5)`` as bright as the first, in 8 bits; the
    ``v_`` sequences are the mixed ones to the pixel; a seed gives the same series."""
    from distill.eval.synthetic_warps import warped_sequences
    from tests.conftest import embedded

    mixed = warped_sequences([embedded("camera")], (120, 160), seed=3)
    series = warped_sequences([embedded("camera")], (120, 160), seed=3, illumination="exposure")
    assert [s.name for s in series] == ["i_camera", "v_camera"]
    first, *darker = series[0].images
    for k, frame in enumerate(darker, start=1):
        assert frame.dtype == np.uint8
        assert frame.mean() / first.mean() == pytest.approx(2 ** (-3 * k / 5), rel=0.1, abs=0.01)
    assert all(np.array_equal(a, b) for a, b in zip(series[1].images, mixed[1].images))
    again = warped_sequences([embedded("camera")], (120, 160), seed=3, illumination="exposure")
    assert all(np.array_equal(a, b) for a, b in zip(series[0].images, again[0].images))


def test_a_defocus_series_blurs_the_i_sequences_more_along_the_sequence():
    """``illumination="blur"``: frame k is the first blurred by a Gaussian of ``3k/5`` px plus sensor noise of
    1.5 grey levels, in 8 bits, so each frame is less sharp than the one before; the ``v_`` sequences stay the mixed ones."""
    import cv2

    from distill.eval.synthetic_warps import warped_sequences
    from tests.conftest import embedded

    mixed = warped_sequences([embedded("camera")], (120, 160), seed=3)
    series = warped_sequences([embedded("camera")], (120, 160), seed=3, illumination="blur")
    first, *blurred = series[0].images
    sharpness = [cv2.Laplacian(frame.astype(np.float32), cv2.CV_32F).var() for frame in series[0].images]
    assert all(a > b for a, b in zip(sharpness, sharpness[1:]))
    for k, frame in enumerate(blurred, start=1):
        assert frame.dtype == np.uint8
        expected = cv2.GaussianBlur(first.astype(np.float32), (0, 0), 3 * k / 5)
        assert np.std(frame - expected) == pytest.approx(1.5, abs=0.3)  # the noise and the rounding, nothing else
    assert all(np.array_equal(a, b) for a, b in zip(series[1].images, mixed[1].images))


def test_multi_scale_keypoints_keep_the_descriptors_of_the_image_itself():
    """``MatchingProtocol(scales=...)``: a network's keypoints come from its maps fused over the scales (as
    ``multi_scale`` detects them) and its descriptors are still sampled from the image's own pass; a bad factor is
    refused when the protocol is made."""
    import cv2

    from distill.detection.by_name import build_detectors
    from distill.detection.detector import describe, detect, multi_scale
    from distill.eval.matching import MatchingProtocol, network_extractor
    from tests.conftest import embedded

    grey = cv2.resize(cv2.imread(str(embedded("camera")), cv2.IMREAD_GRAYSCALE), (160, 120), interpolation=cv2.INTER_AREA)
    superpoint = build_detectors(["superpoint"], "cpu")[0]
    protocol = MatchingProtocol(size=(120, 160), max_keypoints=100, scales=(1.0, 0.5))
    features = network_extractor(superpoint, protocol)(grey)
    fused, _ = detect(multi_scale(superpoint, (1.0, 0.5)), grey, protocol.nms_radius, 100, border=4)
    single, _ = detect(superpoint, grey, protocol.nms_radius, 100, border=4)
    assert np.array_equal(features.keypoints, fused) and not np.array_equal(fused, single)
    assert np.allclose(features.descriptors, describe(superpoint, grey, fused), atol=1e-6)
    with pytest.raises(ValueError, match="scales must be"):
        MatchingProtocol(scales=(0.0,))


def test_a_working_resolution_detects_and_describes_the_resized_image_and_maps_keypoints_back():
    """``MatchingProtocol(resize=R)``: a larger image is resized to a long side of ``R`` (as ``distill.Detector``),
    its keypoints and descriptors are those of the resized image, the keypoints in the image's own pixels; a
    smaller image is left as it is."""
    import cv2

    from distill.detection.by_name import build_detectors
    from distill.detection.detector import describe, detect, to_original_pixels
    from distill.eval.matching import MatchingProtocol, network_extractor
    from labels.images import resize_image
    from tests.conftest import embedded

    grey = cv2.resize(cv2.imread(str(embedded("camera")), cv2.IMREAD_GRAYSCALE), (320, 240), interpolation=cv2.INTER_AREA)
    superpoint = build_detectors(["superpoint"], "cpu")[0]
    features = network_extractor(superpoint, MatchingProtocol(max_keypoints=100, resize=160))(grey)
    seen = resize_image(grey, (120, 160))
    xy, _ = detect(superpoint, seen, 4, 100, border=4)
    assert np.allclose(features.keypoints, to_original_pixels(xy, (240, 320), (120, 160)))
    assert np.allclose(features.descriptors, describe(superpoint, seen, xy), atol=1e-6)
    assert features.image_size == (240, 320) and features.keypoints[:, 0].max() > 200  # the image's own pixels
    as_is = network_extractor(superpoint, MatchingProtocol(max_keypoints=100, resize=320))(grey)
    assert np.array_equal(as_is.keypoints, detect(superpoint, grey, 4, 100, border=4)[0])
    with pytest.raises(ValueError, match="resize must be"):
        MatchingProtocol(resize=4)


def test_seeds_of_one_recipe_get_a_mean_row_and_an_interval(hpatches_root, seed_checkpoints, tmp_path):
    """Two checkpoints equal but for their seed (here the released student twice, so the seeds agree exactly): eval
    matching adds their mean ± std and the mean's difference from SuperPoint + LightGlue, equal to each seed's."""
    paths = seed_checkpoints
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "matching", "--root", str(hpatches_root), "--size", "240x320", "-m", "student+lightglue",
                                      "-m", "superpoint+lightglue", "--checkpoint", paths[0], "--checkpoint", paths[1],
                                      "--out", str(out), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "results.json").read_text())
    (row,) = payload["seed_groups"]
    first = payload["methods"][0]
    assert len(row["methods"]) == 2 and row["auc"]["3px"]["mean"] == pytest.approx(first["auc"]["3px"]) and row["auc"]["3px"]["std"] == 0
    single = payload["difference_from_superpoint_lightglue"][first["method"]]
    assert row["difference"]["all"]["value"] == pytest.approx(single["all"]["value"])
    assert row["difference"]["v"]["low"] == pytest.approx(single["v"]["low"])
    assert "Seeds of one recipe" in (out / "results.md").read_text()
    # the seeds are no release: LightGlue keeps their matches above its own default, as SuperPoint's
    assert {m["filter_threshold"] for m in payload["methods"]} == {0.1}
    assert "confidence" not in (out / "results.md").read_text().split("\n")[2]
