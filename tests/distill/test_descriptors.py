"""The descriptor head: sampling, training from the store's teacher descriptors, and every output path."""
import json

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

import distill
from distill.cli import app
from distill.pretrained import RELEASES, released_checkpoint
from distill.student.data import LabelDataset
from distill.training.trainer import train
from labels.config import LabelConfig
from distill.student.checkpoint import CheckpointError, load_student, read_checkpoint
from labels.configuration import ConfigError, load_config
from labels.images import list_images
from labels.run import label_images
from labels.store import StoreError, StoreReader
from teachers.superpoint import bilinear_cells, sample_descriptors
from tests.conftest import write_photos
from tests.distill.test_student import tiny_config


def test_descriptors_are_sampled_bilinearly_at_pixel_centres():
    """Two 8x8 cells side by side: cell centres at x = 3.5 and 11.5; the pixel centre x = 7.5 lies
    half way, so its descriptor is the normalised mean of the two cells'."""
    cells = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # 2 x 1 x 2: cell 0 = (1, 0), cell 1 = (0, 1)
    points = torch.tensor([[3.5, 3.5], [7.5, 3.5], [11.5, 3.5]])
    sampled = sample_descriptors(cells, points, (8, 16))
    expected = torch.tensor([[1.0, 0.0], [2 ** -0.5, 2 ** -0.5], [0.0, 1.0]])
    assert torch.allclose(sampled, expected, atol=1e-6)


def test_a_position_at_infinity_samples_zero_as_outside_points_do():
    """A cell centre on a homography's horizon lands at infinity (or 0/0): it samples 0, not NaN, so neither an
    adapted descriptor nor a warped crop's teacher descriptor can become NaN."""
    cells = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    points = torch.tensor([[float("inf"), 3.5], [float("nan"), float("nan")], [-float("inf"), 3.5], [3.5, 3.5]])
    sampled = sample_descriptors(cells, points, (8, 16))
    assert torch.equal(sampled[:3], torch.zeros(3, 2)) and torch.allclose(sampled[3], torch.tensor([1.0, 0.0]))


def test_the_cells_a_sample_reads_and_their_weights_give_the_sample():
    """:func:`bilinear_cells` names the four cells grid_sample reads for each point, with its weights: their
    weighted sum, normalised, is :func:`sample_descriptors` on a random 7 x 9 grid, at the corners, the edges,
    outside (zero padding) and at infinity."""
    cells = torch.nn.functional.normalize(torch.randn(16, 7, 9, generator=torch.Generator().manual_seed(0)), dim=0)
    points = torch.cat([torch.rand(200, 2, generator=torch.Generator().manual_seed(1)) * torch.tensor([80.0, 64.0]) - 4,
                        torch.tensor([[0.0, 0.0], [71.0, 55.0], [3.5, 3.5], [-9.0, 20.0], [75.6, 1.0], [float("nan"), 3.0],
                                      [float("inf"), float("inf")]])])
    index, weights = bilinear_cells(points, (7, 9))
    by_hand = torch.nn.functional.normalize((cells.reshape(16, -1).t()[index] * weights[..., None]).sum(1), dim=1)
    assert torch.allclose(by_hand, sample_descriptors(cells, points, (56, 72)), atol=1e-6)
    assert torch.equal(weights[-2:], torch.zeros(2, 4)) and torch.equal(weights[-4], torch.zeros(4))  # not finite, outside
    # (3.5, 3.5) is cell (0, 0)'s centre: that cell alone, of the four (0, 0), (0, 1), (1, 0), (1, 1)
    assert index[202].tolist() == [0, 1, 9, 10] and weights[202].tolist() == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_a_released_student_describes_points_from_the_cells_they_read(release):
    """A release's 1x1 descriptor head runs only on the cells its points' bilinear samples read, and gives the
    dense map's samples (:meth:`Student.describe` then :func:`sample_descriptors`) up to float rounding, in a
    batch of two images of an odd size, at points on the border, past it and at infinity."""
    model = load_student(released_checkpoint(release))[0]
    images = torch.rand(2, 1, 100, 124, generator=torch.Generator().manual_seed(3))
    points = [torch.tensor([[0.0, 0.0], [123.0, 99.0], [-3.0, 5.0], [130.0, 50.0], [float("nan"), 2.0], [61.3, 47.9]]),
              torch.rand(60, 2, generator=torch.Generator().manual_seed(4)) * torch.tensor([124.0, 100.0])]
    seen = []
    model.descriptor_head.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape[-2:].numel()))
    with torch.inference_mode():
        probability, encoding = model.encoded_probability(images)
        sparse = model.descriptors_at(encoding, points)
        dense = model.describe(encoding)
    grid = dense.shape[-2:].numel()  # 13 x 16 cells of the image padded to 104 x 128
    assert seen[:2] == [len(torch.unique(bilinear_cells(xy, tuple(dense.shape[-2:]))[0])) for xy in points] and max(seen[:2]) < grid
    for cells, xy, described in zip(dense, points, sparse):
        assert torch.allclose(described, sample_descriptors(cells, xy, (104, 128)), atol=1e-5)
    assert torch.equal(sparse[0][4], torch.zeros(256))
    none = distill.Detector.pretrained(release)(np.zeros((100, 124), np.uint8), threshold=1.0)  # no point, no cell to describe
    assert none.keypoints.shape == (0, 2) and none.descriptors.shape == (0, 256)


@pytest.fixture(scope="module")
def described_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("descriptors")
    folder = write_photos(root / "images")
    config = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=2", "descriptors=true"])
    return label_images(list_images([folder]), config, root / "labels", progress=False).store, folder


def test_descriptor_head_trains_and_every_path_returns_descriptors(described_store, tmp_path, hpatches_root):
    store, folder = described_store
    run = tmp_path / "run"
    config = tiny_config(store, steps=2, val_every=2)
    config.student.descriptor_dim = 256
    train(config, run, progress=False)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all("descriptor" in r for r in rows if r["kind"] == "train")
    grey = (np.random.default_rng(0).random((100, 130)) * 255).astype(np.uint8)
    features = distill.Detector.from_checkpoint(run / "last.pt")(grey, top_k=50)
    assert features.descriptors.shape == (50, 256)
    assert np.allclose(np.linalg.norm(features.descriptors, axis=1), 1, atol=1e-5)
    result = CliRunner().invoke(app, ["detect", str(folder / "camera.png"), "--checkpoint", str(run / "last.pt"), "--top-k", "40",
                                      "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    saved = np.load(tmp_path / "out" / "camera.npz")
    assert saved["descriptors"].shape == (len(saved["keypoints"]), 256)
    bare = CliRunner().invoke(app, ["detect", str(folder / "camera.png"), "--checkpoint", str(run / "last.pt"), "--top-k", "40",
                                    "--out", str(tmp_path / "bare"), "--quiet", "--no-descriptors"])
    assert bare.exit_code == 0 and "descriptors" not in np.load(tmp_path / "bare" / "camera.npz")
    matched = CliRunner().invoke(app, ["eval", "matching", "--root", str(hpatches_root), "--only", "v", "--size", "96x128",
                                       "--checkpoint", str(run / "last.pt"), "-m", "student+mnn", "-m", "student+lightglue",
                                       "--out", str(tmp_path / "m"), "--quiet", "--device", "cpu"])
    assert matched.exit_code == 0, matched.output
    assert [m["method"] for m in json.loads((tmp_path / "m" / "results.json").read_text())["methods"]] == ["student+mnn", "student+lightglue"]
    both = CliRunner().invoke(app, ["eval", "matching", "--root", str(hpatches_root), "--only", "v", "--size", "96x128",
                                    "--checkpoint", str(run / "last.pt"), "--checkpoint", "pretrained", "-m", "student+mnn",
                                    "--out", str(tmp_path / "m2"), "--quiet", "--device", "cpu"])
    assert both.exit_code == 0, both.output
    assert [m["method"] for m in json.loads((tmp_path / "m2" / "results.json").read_text())["methods"]] == \
        [f"student:{run.name}/last+mnn", "student:pretrained:default+mnn"]  # a release by its name, not its file's


def test_superpoint_descriptors_through_the_api_match_the_teacher():
    grey = (np.random.default_rng(1).random((96, 128)) * 255).astype(np.uint8)
    features = distill.Detector.superpoint()(grey, top_k=30)
    teacher = distill.Detector.superpoint().detector
    teacher.score_map(grey)
    assert np.allclose(features.descriptors, teacher.describe(grey, features.keypoints), atol=1e-6)
    bare = distill.Detector.superpoint()(grey, top_k=30, descriptors=False)
    assert bare.descriptors is None and np.array_equal(bare.keypoints, features.keypoints)
    assert distill.Detector.classical("harris")(grey, top_k=5).descriptors is None


def test_detection_alone_skips_the_descriptor_branch_and_describing_later_reuses_the_pass():
    model = load_student(released_checkpoint())[0]
    calls = []
    model.descriptor_head.register_forward_hook(lambda *_: calls.append(1))
    grey = (np.random.default_rng(2).random((100, 124)) * 255).astype(np.uint8)
    image = torch.from_numpy(grey).float().div(255)[None, None]
    with torch.inference_mode():
        probability, later = model.probability_then_descriptors(image)
        assert calls == []  # keypoints only: the descriptor branch never ran
        described = later()
        assert calls == [1]
        once_probability, once_described = model.probability_map(image, descriptors=True)
    assert torch.equal(probability, once_probability) and torch.equal(described, once_described)


def test_the_released_student_labels_its_own_descriptors_for_a_smaller_student(tmp_path):
    """``distill labels --teacher student:PATH --descriptors`` with the default release: the store holds, per
    image, the release's own descriptors of the stored image on the cells of the image (100 x 124 px: 13 x 16
    cells, not those of the student's padding), the same as the release computes at detection."""
    folder = write_photos(tmp_path / "images")
    checkpoint = released_checkpoint()
    result = CliRunner().invoke(app, ["labels", "--images", str(folder), "--teacher", f"student:{checkpoint}", "--descriptors",
                                      "--size", "100x124", "-n", "1", "--out", str(tmp_path / "labels"), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    reader = StoreReader(next((tmp_path / "labels").glob("student-*.h5")))
    model = load_student(checkpoint)[0].eval()
    for key in reader.keys[:2]:
        labels = reader[key]
        assert labels.descriptors.shape == (256, 13, 16)
        image = torch.from_numpy(labels.image).float().div(255)[None, None]
        with torch.inference_mode():
            own = model.probability_map(image, descriptors=True)[1][0, :, :13, :16]
        assert torch.allclose(torch.from_numpy(labels.descriptors).float(), own, atol=2e-3)


def test_joint_training_takes_the_descriptors_of_each_image_from_a_descriptor_store(described_store, tmp_path):
    """descriptor_store: each item's detector targets come from its training store and its teacher
    descriptors from the descriptor store's labels of the same image; the whole network trains on both,
    provenance records the store, and a descriptor store that lacks training images is refused by name."""
    store, folder = described_store
    config = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=3"])  # other labels of the photos
    plain = label_images(list_images([folder]), config, tmp_path / "labels", progress=False).store
    data = LabelDataset([plain], "train", 0.3, (64, 96), augment=False, descriptors=True, descriptor_store=store)
    key = data.items[0][1]
    own, described = StoreReader(plain)[key], StoreReader(store)[key]
    assert not np.array_equal(own.heatmap, described.heatmap)
    item = data[0]  # the centred crop on the cell grid: rows 16..80, columns 16..112, cells 2..10 and 2..14
    assert torch.equal(item["heatmap"], torch.from_numpy(own.heatmap[16:80, 16:112].astype(np.float32)))
    assert torch.equal(item["descriptors"], torch.from_numpy(described.descriptors[:, 2:10, 2:14].astype(np.float32)))
    run = tmp_path / "run"
    joint = tiny_config(plain, steps=1, val_every=1)
    joint.student.descriptor_dim, joint.descriptor_store = 256, str(store)
    train(joint, run, progress=False)
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert row["descriptor"] > 0 and row["focal"] > 0
    assert list(yaml.safe_load((run / "provenance.yaml").read_text())["descriptor_store"]) == [str(store)]
    two = tmp_path / "two"
    two.mkdir()
    for name in ("camera", "coffee"):
        (two / f"{name}.png").write_bytes((folder / f"{name}.png").read_bytes())
    config = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=1", "descriptors=true"])
    partial = label_images(list_images([two]), config, tmp_path / "partial", progress=False).store
    with pytest.raises(StoreError, match=f"{partial}.* has no descriptors of 2 of the training images"):
        LabelDataset([plain], "train", 0.0, (64, 96), descriptors=True, descriptor_store=partial)


def test_a_store_without_descriptors_names_the_flag(tmp_path, image_folder):
    config = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=2"])
    store = label_images(list_images([image_folder]), config, tmp_path / "labels", progress=False).store
    config = tiny_config(store, steps=1)
    config.student.descriptor_dim = 256
    with pytest.raises(StoreError, match="distill labels --descriptors"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_descriptor_head_on_the_released_student_leaves_its_detector_untouched(described_store, tmp_path):
    """init=pretrained + train_only=[descriptor_fpn, descriptor_head]: the descriptor branch learns,
    while the frozen parts keep their weights and batch-norm statistics, so the keypoints are exactly
    the released student's."""
    store, _ = described_store
    config = tiny_config(store, steps=3, val_every=3)
    config.student = read_checkpoint(released_checkpoint()).config.student
    config.student.descriptor_dim, config.student.descriptor_channels, config.student.backbone_weights = 256, 16, "none"
    config.init, config.train_only = "pretrained", ["descriptor_fpn", "descriptor_head"]
    summary = train(config, tmp_path / "run", progress=False)
    provenance = yaml.safe_load((tmp_path / "run" / "provenance.yaml").read_text())
    assert provenance["init"] == {"checkpoint": str(released_checkpoint()), "sha256": RELEASES["default"].sha256,  # which release `pretrained` was
                                  "loaded": ["backbone", "fpn", "detail", "head"],  # a descriptor branch of another width starts fresh
                                  "not_loaded": ["descriptor_fpn", "descriptor_head"]}
    assert summary["init_loaded"] == "backbone, fpn, detail, head" and summary["init_not_loaded"] == "descriptor_fpn, descriptor_head"
    grey = (np.random.default_rng(2).random((120, 160)) * 255).astype(np.uint8)
    before = distill.Detector.pretrained()(grey, top_k=100)
    after = distill.Detector.from_checkpoint(tmp_path / "run" / "last.pt")(grey, top_k=100)
    assert np.array_equal(before.keypoints, after.keypoints) and np.allclose(before.scores, after.scores, atol=1e-6)
    assert after.descriptors.shape == (100, 256)
    released = torch.load(released_checkpoint(), weights_only=True)["model"]
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(trained[k].float(), v.float()) for k, v in released.items() if not k.startswith("descriptor_"))
    config.lr = 0.0  # a control run: the descriptor branch stays as initialised
    train(config, tmp_path / "control", progress=False)
    fresh = torch.load(tmp_path / "control" / "last.pt", weights_only=True)["model"]
    assert not torch.equal(trained["descriptor_head.0.weight"], fresh["descriptor_head.0.weight"])
    assert not torch.equal(trained["descriptor_fpn.layer_blocks.0.0.weight"], fresh["descriptor_fpn.layer_blocks.0.0.weight"])


def test_train_only_names_the_parts_and_init_refuses_another_architecture(described_store, tmp_path):
    store, _ = described_store
    config = tiny_config(store, steps=1)
    config.train_only = ["decoder"]
    with pytest.raises(ConfigError, match="backbone, fpn, detail, head, descriptor_stages, descriptor_fpn, descriptor_detail, descriptor_head"):
        train(config, tmp_path / "run", progress=False)
    config = tiny_config(store, steps=1)
    config.init = "pretrained"
    with pytest.raises(CheckpointError, match="another architecture"):
        train(config, tmp_path / "run2", progress=False)


def test_a_lighter_student_starts_from_the_released_backbone_and_pyramid(described_store, tmp_path):
    """init=pretrained with a separable head at another input scale: the backbone and the pyramid load
    (their shapes do not change), the head and the detail branch (other shapes) start fresh, and
    provenance.yaml says which parts loaded."""
    store, _ = described_store
    config = tiny_config(store, steps=1, val_every=1)
    config.student = read_checkpoint(released_checkpoint()).config.student
    config.student.descriptor_dim = config.student.descriptor_channels = 0
    config.student.separable, config.student.input_scale, config.student.backbone_weights = True, 0.375, "none"
    config.init, config.train_only = "pretrained", ["detail", "head"]  # frozen: the loaded parts' statistics stay put
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["init_not_loaded"] == "detail, head, descriptor_fpn, descriptor_head"  # no descriptor branch here: said, not dropped unnoticed
    released = torch.load(released_checkpoint(), weights_only=True)["model"]
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(trained[k].float(), v.float()) for k, v in released.items() if k.split(".")[0] in ("backbone", "fpn"))
    assert trained["head.0.0.weight"].shape != released["head.0.0.weight"].shape
    assert yaml.safe_load((tmp_path / "run" / "provenance.yaml").read_text())["init"]["loaded"] == ["backbone", "fpn"]
    config.steps = 2  # resumed from last.pt, it loads nothing from --init: the record of where it started stays
    train(config, tmp_path / "run", resume=True, progress=False)
    assert yaml.safe_load((tmp_path / "run" / "provenance.yaml").read_text())["init"]["loaded"] == ["backbone", "fpn"]
