"""The Python API against the reference path (``distill.detection.detector.detect`` on a grey uint8 image)."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import distill
from distill.detection.detector import detect
from tests.conftest import embedded


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """An RGB photo of a size that is not a multiple of 8."""
    bgr = cv2.imread(str(embedded("astronaut")))
    return cv2.cvtColor(cv2.resize(bgr, (131, 101), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def superpoint() -> distill.Detector:
    return distill.Detector.superpoint()


def test_every_input_kind_gives_the_reference_points(photo, superpoint):
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    xy, scores = detect(superpoint.detector, grey, top_k=200)
    assert 50 < len(xy) <= 200
    inputs = {
        "grey uint8": grey, "grey H x W x 1": grey[..., None], "grey float": grey.astype(np.float32) / 255,
        "RGB uint8": photo, "BGR uint8": photo[..., ::-1].copy(), "RGB float": photo.astype(np.float64) / 255,
        "torch grey": torch.from_numpy(grey).float() / 255, "torch 3 x H x W": torch.from_numpy(photo).permute(2, 0, 1).float() / 255,
    }
    for kind, image in inputs.items():
        features = superpoint(image, top_k=200, channels="bgr" if kind.startswith("BGR") else "rgb")
        assert np.array_equal(np.asarray(features.keypoints), xy) and np.allclose(np.asarray(features.scores), scores), kind
        assert isinstance(features.keypoints, torch.Tensor) == kind.startswith("torch")
    assert (xy[:, 0] <= 130).all() and (xy[:, 1] <= 100).all()  # never in the padding of the 101 x 131 image


def test_batches_give_one_result_per_image(photo, superpoint):
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    single = superpoint(grey, top_k=50)
    for batch in (np.stack([grey, grey])[..., None], [grey, photo], torch.from_numpy(np.stack([photo, photo])).permute(0, 3, 1, 2)):
        results = superpoint(batch, top_k=50)
        assert len(results) == 2 and all(np.array_equal(np.asarray(r.keypoints), single.keypoints) for r in results)


def test_options_and_bad_input(photo, superpoint):
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    assert len(superpoint(grey, top_k=10)) == 10
    assert len(superpoint(grey, threshold=0.5)) < len(superpoint(grey))
    assert len(superpoint(grey, nms_radius=0)) > len(superpoint(grey, nms_radius=8))
    refined = superpoint(grey, top_k=20, subpixel=True).keypoints
    assert not np.array_equal(refined, np.round(refined))
    for bad, message in [(grey.astype(np.float32), r"float images must lie in \[0, 1\]"), (grey.astype(np.int64), "dtype int64"),
                         (np.zeros((2, 3, 4, 5)), "NumPy image must be")]:
        with pytest.raises(ValueError, match=message):
            superpoint(bad)
    with pytest.raises(ValueError, match="top_k"):
        superpoint(grey, top_k=0)
    assert distill.Detector.classical("shi")(grey, top_k=5).keypoints.shape == (5, 2)


@pytest.mark.parametrize("spec,runtime", [("harris", "torch"), ("superpoint", "torch"), ("pretrained:fast", "torch"),
                                          ("pretrained:fast", "onnx-int8"), ("pretrained", "torch")])
def test_distill_detect_gives_the_points_of_the_api(spec, runtime, tmp_path):
    """The command and the API build detectors by one path and detect by one path: identical files."""
    from typer.testing import CliRunner

    from distill.cli import app

    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), cv2.resize(cv2.imread(str(embedded("coffee"))), (200, 150), interpolation=cv2.INTER_AREA))
    option = ["-d", spec] if spec in ("harris", "superpoint") else ["--checkpoint", spec, "--runtime", runtime]
    result = CliRunner().invoke(app, ["detect", str(image), *option, "--top-k", "300", "--size", "120x160", "--out", str(tmp_path / "o"),
                                      "--quiet", "--device", "cpu", "--draw"])
    assert result.exit_code == 0, result.output
    drawn = cv2.imread(str(tmp_path / "o" / "photo_keypoints.png"))
    assert drawn.shape == (150, 200, 3) and (drawn[..., 1] > drawn[..., 2] + 100).sum() > 50  # green circles on grey
    saved = np.load(tmp_path / "o" / "photo.npz")
    features = distill.Detector.load(spec, "cpu", runtime)(str(image), top_k=300, size=(120, 160))
    assert len(features) > 50 and np.array_equal(saved["keypoints"], features.keypoints)
    assert np.array_equal(saved["scores"], features.scores) and str(saved["detector"]) == distill.Detector.load(spec, "cpu", runtime).name
    if features.descriptors is not None:
        assert np.array_equal(saved["descriptors"], features.descriptors)


def test_features_read_as_lightglues_mapping_and_move_to_a_device(photo, superpoint):
    features = superpoint(photo, top_k=100)
    assert features["keypoints"] is features.keypoints and features["keypoint_scores"] is features.scores
    assert list(dict(features)) == ["keypoints", "keypoint_scores", "descriptors", "image_size"]
    assert tuple(features["image_size"]) == (131, 101)  # (width, height), as LightGlue's extractors give it
    moved = features.to("cpu")
    assert isinstance(moved["keypoints"], torch.Tensor) and torch.equal(moved.keypoints, torch.from_numpy(features.keypoints))
    with pytest.raises(KeyError, match="Features holds keypoints"):
        features["scores0"]
    assert distill.Detector.load("harris", device="auto").name == "harris"


def test_match_finds_the_known_homography_with_scores(hpatches_root, keypoints_only_checkpoint):
    from tests.conftest import viewpoint_homography

    result = distill.match(hpatches_root / "v_photo" / "1.ppm", hpatches_root / "v_photo" / "3.ppm", device="cpu")
    assert len(result.matches) > 50 and result.inliers.mean() > 0.8
    assert len(result.scores) == len(result.matches) and ((result.scores > 0) & (result.scores <= 1)).all()
    truth = viewpoint_homography(3)
    corners = np.array([[0, 0], [319, 0], [319, 239], [0, 239]], np.float64)
    from teachers.homographies import warp_points

    assert np.abs(warp_points(corners, result.homography) - warp_points(corners, truth)).max() < 3
    mnn = distill.Matcher("superpoint", "mnn", top_k=300, device="cpu")
    rgb = cv2.imread(str(hpatches_root / "v_photo" / "1.ppm"))[..., ::-1].copy()
    nearest = mnn(rgb, hpatches_root / "v_photo" / "2.ppm")
    assert len(nearest.matches) > 50 and nearest.inliers.mean() > 0.5 and (nearest.scores <= 1 + 1e-6).all()
    fast = distill.Matcher("pretrained:fast", device="cpu")(hpatches_root / "v_photo" / "1.ppm", hpatches_root / "v_photo" / "3.ppm")
    assert len(fast.matches) > 50 and fast.inliers.mean() > 0.8
    assert np.abs(warp_points(corners, fast.homography) - warp_points(corners, truth)).max() < 3
    with pytest.raises(ValueError, match="has no descriptors"):
        distill.Matcher(keypoints_only_checkpoint, device="cpu")
    small = distill.match(hpatches_root / "v_photo" / "1.ppm", hpatches_root / "v_photo" / "3.ppm", device="cpu", resize=200)
    assert small.keypoints0[:, 0].max() > 250  # detected at 150 x 200, keypoints in the 240 x 320 images' pixels
    assert np.abs(warp_points(corners, small.homography) - warp_points(corners, truth)).max() < 4
    assert not np.array_equal(small.keypoints0, result.keypoints0)  # 240 x 320 is within the default 1024: as it is
    # LightGlue at full depth by default (as eval matching measures); its own early stopping and pruning on request
    full = distill.Matcher("superpoint", device="cpu").protocol
    assert (full.lightglue_depth_confidence, full.lightglue_width_confidence) == (-1, -1)
    adaptive = distill.match(hpatches_root / "v_photo" / "1.ppm", hpatches_root / "v_photo" / "3.ppm", device="cpu",
                             lightglue_adaptive=True)
    assert len(adaptive.matches) > 50 and adaptive.inliers.mean() > 0.8
    assert np.abs(warp_points(corners, adaptive.homography) - warp_points(corners, truth)).max() < 3


def test_torch_hub_loads_the_released_student_from_the_repository(photo):
    repository = str(Path(__file__).resolve().parents[2])
    student = torch.hub.load(repository, "student", source="local", name="fast", device="cpu")
    assert isinstance(student, distill.Detector) and len(student(photo, top_k=50)) == 50


@pytest.mark.parametrize("spec", ["pretrained", "superpoint"])
def test_a_batch_runs_the_network_per_batch_and_gives_each_images_points(spec):
    images = [cv2.resize(cv2.imread(str(embedded(name)), cv2.IMREAD_GRAYSCALE), (160, 120), interpolation=cv2.INTER_AREA)
              for name in ("astronaut", "camera", "coffee")]
    detector = distill.Detector.load(spec, "cpu")
    calls = []
    network = detector.detector.network
    detector.detector.network = lambda batch: calls.append(len(batch)) or network(batch)
    single = [detector(image, top_k=200) for image in images]
    assert calls == []  # one image: the reference path
    for batch, sizes in (([*images], [2, 1]), (np.stack(images)[..., None], [2, 1]), (torch.from_numpy(np.stack(images))[:, None], [3])):
        calls.clear()
        found = detector(batch, top_k=200, batch_size=None if not isinstance(batch, torch.Tensor) else 3)
        assert calls == sizes and len(found) == 3
        for one, many in zip(single, found):
            assert {tuple(p) for p in np.asarray(one.keypoints)} == {tuple(p) for p in np.asarray(many.keypoints)}
            order = [np.flatnonzero((np.asarray(many.keypoints) == p).all(1))[0] for p in one.keypoints]
            np.testing.assert_allclose(np.asarray(many.descriptors)[order], one.descriptors, atol=1e-5)
            assert isinstance(many.keypoints, torch.Tensor) == isinstance(batch, torch.Tensor)


def test_a_torch_image_gives_the_points_of_its_numpy_twin(photo):
    student = distill.Detector.load("pretrained", "cpu")
    reference = student(photo, top_k=300)
    tensor = student(torch.from_numpy(photo).permute(2, 0, 1).float() / 255, top_k=300)
    assert isinstance(tensor.keypoints, torch.Tensor) and tensor.keypoints.device.type == "cpu"
    assert np.array_equal(tensor.keypoints.numpy(), reference.keypoints)
    with pytest.raises(ValueError, match="NaN"):
        student(torch.full((1, 16, 16), float("nan")))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_image_stays_on_the_gpu(photo):
    student = distill.Detector.load("pretrained", "cuda")
    found = student(torch.from_numpy(photo).permute(2, 0, 1).cuda())
    assert found.keypoints.is_cuda and found.descriptors.is_cuda


def test_results_print_as_one_line_of_counts(photo, superpoint):
    features = superpoint(photo, top_k=50)
    assert repr(features) == "Features(50 keypoints, with descriptors, image_size=(131, 101), numpy)"
    assert repr(features.to("cpu")).endswith(", torch)")
    matches = distill.Matches(np.zeros((3, 2)), np.zeros((4, 2)), np.array([[0, 1], [2, 3]]), np.ones(2), np.eye(3),
                              np.array([True, False]))
    assert repr(matches) == "Matches(2 matches of 3 and 4 keypoints, homography: 1 inliers)"
    assert "homography: none" in repr(distill.Matches(*[np.zeros((0, 2))] * 3, np.zeros(0), None, np.zeros(0, bool)))


def test_large_images_are_detected_at_the_working_resolution(superpoint):
    """An image whose long side exceeds ``resize`` is detected and described at that long side (the default,
    distill.choices.RESIZE, as LightGlue's extractors resize) and its points come back in its own pixels."""
    from distill.choices import RESIZE
    from distill.detection.detector import describe, detect, to_original_pixels
    from labels.images import resize_image

    grey = cv2.resize(cv2.imread(str(embedded("camera")), cv2.IMREAD_GRAYSCALE), (RESIZE + 160, (RESIZE + 160) * 3 // 4))
    small = resize_image(grey, (RESIZE * 3 // 4, RESIZE))
    xy, scores = detect(superpoint.detector, small, top_k=200)
    expected = describe(superpoint.detector, small, xy)
    found = superpoint(grey, top_k=200)
    assert np.allclose(found.keypoints, to_original_pixels(xy, grey.shape, small.shape)) and np.array_equal(found.scores, scores)
    assert np.allclose(found.descriptors, expected, atol=1e-6)
    assert found.keypoints[:, 0].max() > RESIZE and tuple(found.image_size) == grey.shape[::-1]
    full = superpoint(grey, top_k=200, resize=None)
    assert np.array_equal(full.keypoints, detect(superpoint.detector, grey, top_k=200)[0])
    assert np.array_equal(superpoint(small, top_k=200).keypoints, xy)  # at or under the working resolution: as it is
    with pytest.raises(ValueError, match="resize must be"):
        superpoint(grey, resize=4)


def test_distill_detect_takes_the_working_resolution_of_the_api(tmp_path):
    from typer.testing import CliRunner

    from distill.cli import app

    image = tmp_path / "large.png"
    cv2.imwrite(str(image), cv2.resize(cv2.imread(str(embedded("coffee"))), (900, 600)))
    harris = distill.Detector.load("harris", "cpu")
    for option, resize in [([], distill.choices.RESIZE), (["--resize", "0"], None), (["--resize", "300"], 300)]:
        out = tmp_path / f"o{resize}"
        result = CliRunner().invoke(app, ["detect", str(image), "-d", "harris", "--top-k", "300", *option, "--out", str(out), "--quiet"])
        assert result.exit_code == 0, result.output
        assert np.array_equal(np.load(out / "large.npz")["keypoints"], harris(str(image), top_k=300, resize=resize).keypoints)
    refused = CliRunner().invoke(app, ["detect", str(image), "-d", "harris", "--resize", "3", "--out", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "--resize 3" in refused.output


def test_multi_scale_detection_averages_the_score_maps_of_each_scale(tmp_path):
    """scales=(1, f): the score map is the mean of the image's and of its map at f resized back; the command's
    --multiscale is the API's MULTISCALE."""
    from typer.testing import CliRunner

    from distill.cli import app
    from distill.detection.detector import detect, multi_scale
    from labels.images import resize_image

    grey = cv2.resize(cv2.imread(str(embedded("coffee")), cv2.IMREAD_GRAYSCALE), (320, 240))
    harris = distill.Detector.load("harris", "cpu")
    half = cv2.resize(harris.detector.score_map(resize_image(grey, (120, 160))).numpy().astype(np.float32), (320, 240))
    fused = (harris.detector.score_map(grey).numpy().astype(np.float32) + half) / 2
    assert np.allclose(multi_scale(harris.detector, (1.0, 0.5)).score_map(grey).numpy(), fused)
    found = harris(grey, top_k=100, scales=(1.0, 0.5))
    assert np.array_equal(found.keypoints, detect(multi_scale(harris.detector, (1.0, 0.5)), grey, top_k=100)[0])
    assert not np.array_equal(found.keypoints, harris(grey, top_k=100).keypoints)
    image = tmp_path / "coffee.png"
    cv2.imwrite(str(image), grey)
    result = CliRunner().invoke(app, ["detect", str(image), "-d", "harris", "--top-k", "100", "--multiscale", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.load(tmp_path / "o" / "coffee.npz")["keypoints"],
                          harris(grey, top_k=100, scales=distill.choices.MULTISCALE).keypoints)
    with pytest.raises(ValueError, match="scales must be"):
        harris(grey, scales=(0.0,))


def test_a_batch_of_large_images_runs_at_the_working_resolution_in_one_pass():
    """Same-size images larger than the working resolution are resized, detected in one batch and mapped back:
    the points of the image-by-image call, NumPy or torch (area averaging on the torch image's device)."""
    from distill.choices import RESIZE

    student = distill.Detector.pretrained("fast", device="cpu")
    greys = [cv2.resize(cv2.imread(str(embedded(name)), cv2.IMREAD_GRAYSCALE), (RESIZE + 128, (RESIZE + 128) * 3 // 4))
             for name in ("coffee", "camera")]
    batch = student(np.stack(greys)[..., None], top_k=300)
    for grey, found in zip(greys, batch):
        alone = student(grey, top_k=300)
        assert np.allclose(found.keypoints, alone.keypoints) and tuple(found.image_size) == grey.shape[::-1]
    tensors = student(torch.from_numpy(np.stack(greys))[:, None].float() / 255, top_k=300)
    for grey, found in zip(greys, tensors):
        assert isinstance(found.keypoints, torch.Tensor) and tuple(found.image_size.tolist()) == grey.shape[::-1]
        assert found.keypoints[:, 0].max() > RESIZE  # back in the image's own pixels
