import json
from dataclasses import replace
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import typer
import yaml
from typer.testing import CliRunner

from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import HPatchesError, load_hpatches
import distill
from distill.cli import app
from distill.commands.train import newest_store
from distill.detection.detector import detect
from distill.student.backbone import create_backbone
from distill.student.checkpoint import CheckpointError, load_student, read_checkpoint, write_slim
from distill.student.config import StudentConfig, TrainConfig
from distill.student.detector import checkpoint_detector
from distill.student.inference import inference_student
from distill.student.model import Student, detail_branch
from distill.training.trainer import NonFiniteLossError, train
from labels.config import LabelConfig
from labels.configuration import ConfigError, load_config, plain
from labels.images import list_images
from labels.run import label_images
from labels.store import StoreReader
from teachers.config import DetectionConfig
from teachers.superpoint import sample_descriptors
from tests.conftest import embedded, run_script, write_photos


def test_packaged_lite0_weights_load_offline():
    backbone = create_backbone("tf_efficientnet_lite0", "auto")
    random = create_backbone("tf_efficientnet_lite0", "none")
    stem = backbone.state_dict()["conv_stem.weight"]
    assert not torch.equal(stem, random.state_dict()["conv_stem.weight"])
    assert backbone.feature_info.reduction() == [4, 8, 16, 32]


def test_an_antialiased_backbone_has_the_same_weights_and_moves_less_under_a_one_pixel_shift():
    """``backbone_antialias=blur``: timm's BlurPool after each strided block, the packaged weights unchanged; on a
    real photo and its copy shifted by one pixel every level of the ImageNet backbone differs by at most 0.6 of what
    the plain backbone's does (relative L2; measured 0.01 to 0.06 against 0.10 to 0.15; the stem's stride stays)."""
    from skimage import data

    photo = torch.from_numpy(data.camera()[:128, :160].astype(np.float32) / 255)[None, None].expand(1, 3, -1, -1)
    plain, blurred = (create_backbone("tf_efficientnet_lite0", "auto", 4, antialias).eval() for antialias in ("none", "blur"))
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), blurred.state_dict().values()))
    assert sum(type(module).__name__ == "BlurPool2d" for module in blurred.modules()) == 4
    with torch.no_grad():
        moved = [[float((a - b).norm() / a.norm()) for a, b in zip(net(photo[..., 1:]), net(photo[..., :-1]))]
                 for net in (plain, blurred)]
    assert all(aa < 0.6 * base for base, aa in zip(*moved)), moved
    student = Student(StudentConfig(backbone_antialias="blur", fpn_channels=8, detail_channels=8, head_channels=8))
    assert student.probability_map(torch.rand(1, 1, 60, 84)).shape == (1, 60, 84)
    with pytest.raises(ValueError, match="backbone_antialias"):
        StudentConfig(backbone_antialias="max")


def test_deeper_descriptor_stages_continue_the_backbone_and_leave_the_keypoints_alone():
    """descriptor_levels=4 on a backbone of 2 levels: the deeper stages, run on its last level, give the
    packaged 4-level backbone's own levels 3 and 4 (strides 16 and 32), the descriptor pyramid reads all four,
    and the keypoint logits are those of the same student without them."""
    config = StudentConfig(backbone="tf_efficientnet_lite0", backbone_levels=2, fpn_channels=8, detail_channels=8,
                           head_channels=8, descriptor_dim=256, descriptor_channels=8, descriptor_levels=4)
    torch.manual_seed(0)
    student = Student(config).eval()
    image = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        shallow = student.backbone(image)
        levels = shallow + student.descriptor_stages(shallow[-1])
        expected = create_backbone("tf_efficientnet_lite0", "auto", 4).eval()(image)
    assert [level.shape[-1] for level in levels] == [24, 12, 6, 3]
    assert all(torch.allclose(ours, theirs, atol=1e-5) for ours, theirs in zip(levels, expected))
    assert student.descriptor_fpn.inner_blocks[3][0].in_channels == 320
    without = Student(replace(config, descriptor_levels=0)).eval()
    without.load_state_dict({k: v for k, v in student.state_dict().items() if not k.startswith("descriptor_")}, strict=False)
    grey = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        logits, descriptors = student(grey, descriptors=True)
        assert torch.equal(logits, without(grey)) and descriptors.shape == (1, 256, 8, 12)
    for wrong in ({"descriptor_levels": 2}, {"descriptor_levels": 5}, {"descriptor_channels": 0}):
        with pytest.raises(ValueError, match="descriptor_levels"):
            replace(config, **wrong)


def test_a_cheaper_descriptor_branch_is_a_separable_pyramid_and_a_narrower_head(tmp_path):
    """descriptor_separable: each 3x3 layer of the descriptor pyramid is a per-channel 3x3 then a 1x1, which is the
    dense 3x3 convolution of weight ``P[o, i] D[i]`` and bias ``P b_D + b_P``; descriptor_hidden narrows the head's
    middle layer. The keypoints are those of the same student without them, and ``--init`` from a dense branch loads
    the detector but starts the changed parts fresh."""
    from distill.student.checkpoint import save_checkpoint
    from distill.student.initialise import initialise_from

    dense = StudentConfig(backbone_weights="none", fpn_channels=8, detail_channels=8, head_channels=8, descriptor_dim=256,
                          descriptor_channels=16)
    cheap = replace(dense, descriptor_separable=True, descriptor_hidden=32)
    torch.manual_seed(0)
    student = Student(cheap).eval()
    depthwise, pointwise = student.descriptor_fpn.layer_blocks[0]
    assert depthwise.groups == 16 and pointwise.kernel_size == (1, 1) and student.descriptor_head[0].out_channels == 32
    level = torch.randn(1, 16, 6, 7)
    weight = pointwise.weight[:, :, 0, 0, None, None] * depthwise.weight[:, 0][None]  # P[o, i] D[i]
    bias = pointwise.weight[:, :, 0, 0] @ depthwise.bias + pointwise.bias
    with torch.no_grad():
        torch.testing.assert_close(student.descriptor_fpn.layer_blocks[0](level), F.conv2d(level, weight, bias, padding=1))
        grey = torch.rand(1, 1, 64, 96)
        logits, descriptors = student(grey, descriptors=True)
        without = Student(replace(cheap, descriptor_dim=0, descriptor_channels=0, descriptor_separable=False)).eval()
        without.load_state_dict({k: v for k, v in student.state_dict().items() if not k.startswith("descriptor_")})
        assert torch.equal(logits, without(grey)) and descriptors.shape == (1, 256, 8, 12)
        torch.testing.assert_close(descriptors.norm(dim=1), torch.ones(1, 8, 12))
    checkpoint = tmp_path / "dense.pt"
    save_checkpoint(checkpoint, Student(dense), None, None, 0, -1.0, TrainConfig(student=dense))
    assert initialise_from(Student(cheap), str(checkpoint)).loaded == ["backbone", "fpn", "detail", "head"]
    assert initialise_from(Student(replace(dense, descriptor_hidden=32)), str(checkpoint)) == (
        ["backbone", "fpn", "detail", "head", "descriptor_fpn"], ["descriptor_head"])
    with pytest.raises(ValueError, match="descriptor_separable"):
        replace(dense, descriptor_channels=0, descriptor_separable=True)
    with pytest.raises(ValueError, match="descriptor_hidden"):
        replace(dense, descriptor_hidden=0)


def test_the_descriptors_own_detail_branch_leaves_the_keypoints_and_the_detectors_detail_alone(tmp_path):
    """descriptor_detail: the descriptor head reads a separable detail branch of its own in place of the detector's.
    The keypoints are those of the same student without it; the descriptors move with it and not with the detector's
    detail branch; sampling them at points equals the dense map sampled; ``--init`` loads every other part, and a
    run training only the descriptor branch trains it."""
    from distill.student.checkpoint import save_checkpoint
    from distill.student.initialise import frozen_parts, initialise_from

    base = StudentConfig(backbone_weights="none", fpn_channels=8, detail_channels=8, head_channels=8, descriptor_dim=256,
                         descriptor_channels=16)
    own = replace(base, descriptor_detail=12)
    torch.manual_seed(0)
    student = Student(own).eval()
    assert student.descriptor_head[0].in_channels == 16 + 12
    assert any(layer.groups > 1 for layer in student.descriptor_detail.modules() if isinstance(layer, torch.nn.Conv2d))
    grey = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        logits, descriptors = student(grey, descriptors=True)
        without = Student(base).eval()
        without.load_state_dict({k: v for k, v in student.state_dict().items()
                                 if not k.startswith(("descriptor_detail", "descriptor_head"))}, strict=False)
        assert torch.equal(logits, without(grey)) and descriptors.shape == (1, 256, 8, 12)
        student.detail[1][0].weight.mul_(2)
        assert torch.equal(student(grey, descriptors=True)[1], descriptors)
        student.descriptor_detail[1][0].weight.mul_(2)
        assert not torch.allclose(student(grey, descriptors=True)[1], descriptors)
        encoding = student.encode(grey)
        points = [torch.tensor([[10.0, 20.0], [50.5, 33.25], [90.0, 60.0]])]
        dense = student.describe(encoding)
        torch.testing.assert_close(student.descriptors_at(encoding, points)[0], sample_descriptors(dense[0], points[0], (64, 96)),
                                   atol=1e-5, rtol=1e-4)
    checkpoint = tmp_path / "base.pt"
    save_checkpoint(checkpoint, Student(base), None, None, 0, -1.0, TrainConfig(student=base))
    assert initialise_from(Student(own), str(checkpoint)) == (["backbone", "fpn", "detail", "head", "descriptor_fpn"],
                                                              ["descriptor_head"])
    trained = TrainConfig(student=own, train_only=["descriptor_detail"])
    assert trained.trains_descriptors and student.detail in frozen_parts(student, trained.train_only)
    with pytest.raises(ValueError, match="descriptor_detail"):
        replace(base, descriptor_channels=0, descriptor_detail=8)


@pytest.mark.parametrize("head,shape", [("map", (2, 64, 96)), ("cell", (2, 65, 8, 12))])
def test_student_heads(head, shape):
    model = Student(StudentConfig(head=head, backbone_weights="none")).eval()
    logits = model(torch.rand(2, 1, 64, 96))
    assert logits.shape == shape
    prob = model.probability(logits)
    assert prob.shape == (2, 64, 96) and 0 <= prob.min() and prob.max() <= 1
    assert len(model.detect(torch.rand(1, 1, 64, 96), top_k=10)[0]) == 10


def test_cell_head_reads_the_pixels_of_its_cell_through_the_shortcut():
    """With the pixel shortcut, the head of a half-scale student sees the full-resolution pixels of
    each cell: with the pyramid's input to the head cut, one changed pixel moves exactly the logits of
    its cell's 3x3 neighbourhood (the head's 3x3 convolution). Sides need only be multiples of 8."""
    torch.manual_seed(0)
    model = Student(StudentConfig(head="cell", backbone_weights="none", fpn_channels=8, input_scale=0.5, pixel_shortcut=True,
                                  detail_channels=0, head_channels=16)).eval()
    with torch.no_grad():
        model.head[0][0].weight[:, :8] = 0  # the 8 pyramid channels come first, then the 64 pixels
    image = torch.rand(1, 1, 72, 104)
    changed = image.clone()
    changed[0, 0, 8 * 4 + 3, 8 * 6 + 5] += 0.5  # a pixel of cell (4, 6)
    with torch.no_grad():
        before, after = model(image), model(changed)
    assert before.shape == (1, 65, 9, 13)
    moved = (after - before).abs().amax(dim=1)[0] > 1e-6
    expected = torch.zeros(9, 13, dtype=torch.bool)
    expected[3:6, 5:8] = True
    assert torch.equal(moved, expected)


@pytest.mark.parametrize("head,stride,start", [("cell", 8, 4), ("cell", 8, 2), ("cell", 8, 1), ("map", 4, 4), ("map", 4, 2)])
def test_detail_branch_sees_full_resolution_locally(head, stride, start):
    """The detail branch (a small CNN on the full-resolution image, starting on blocks of side
    ``start``) reaches the head at its stride: with the pyramid's input cut, one changed pixel moves
    the output only near that pixel."""
    torch.manual_seed(0)
    model = Student(StudentConfig(head=head, backbone_weights="none", fpn_channels=8, input_scale=0.5, detail_channels=8,
                                  head_channels=16, detail_start=start)).eval()
    with torch.no_grad():
        model.head[0][0].weight[:, :8] = 0
    image = torch.rand(1, 1, 64, 96)
    changed = image.clone()
    changed[0, 0, 33, 50] += 0.5
    with torch.no_grad():
        before, after = model(image), model(changed)
    moved = (after - before).abs()
    moved = moved.amax(dim=1)[0] if head == "cell" else F.max_pool2d(moved[:, None], stride)[0, 0]
    assert moved.shape == (64 // stride, 96 // stride)
    ys, xs = torch.nonzero(moved > 1e-6, as_tuple=True)
    assert moved[33 // stride, 50 // stride] > 1e-6
    reach = 24  # pixels: the detail branch's and the head's receptive fields
    assert (ys * stride - 33).abs().max() <= reach and (xs * stride - 50).abs().max() <= reach


def test_one_by_one_head_moves_only_the_cell_of_a_changed_pixel():
    """``head_kernel=1``: with the pyramid's input cut, one changed pixel moves the logits of its own
    cell and no other (the 3x3 head moves its 3x3 neighbourhood, test above)."""
    torch.manual_seed(0)
    model = Student(StudentConfig(backbone_weights="none", fpn_channels=8, input_scale=0.5, pixel_shortcut=True,
                                  detail_channels=0, head_channels=16, head_kernel=1)).eval()
    assert model.head[0][0].weight.shape == (16, 8 + 64, 1, 1)
    with torch.no_grad():
        model.head[0][0].weight[:, :8] = 0
    image = torch.rand(1, 1, 72, 104)
    changed = image.clone()
    changed[0, 0, 8 * 4 + 3, 8 * 6 + 5] += 0.5
    with torch.no_grad():
        moved = (model(changed) - model(image)).abs().amax(dim=1)[0] > 1e-6
    expected = torch.zeros(9, 13, dtype=torch.bool)
    expected[4, 6] = True
    assert torch.equal(moved, expected)


def test_area_downscale_sees_only_the_mean_of_each_block():
    """``downscale=area`` at input scale 1/4: the backbone sees the mean of each 4x4 block, so with the
    detail branch's input to the head cut, an image and its block means give the same logits; the
    antialiased bilinear downscale reads across blocks and tells them apart. Other scales are refused."""
    torch.manual_seed(0)
    image = torch.rand(1, 1, 64, 96)
    blocks = F.interpolate(F.avg_pool2d(image, 4), scale_factor=4, mode="nearest")
    for downscale, same in (("area", True), ("bilinear", False)):
        model = Student(StudentConfig(backbone_weights="none", fpn_channels=8, input_scale=0.25, detail_channels=8,
                                      head_channels=16, downscale=downscale)).eval()
        with torch.no_grad():
            model.head[0][0].weight[:, 8:] = 0
            difference = (model(image) - model(blocks)).abs().max()
        assert (difference < 1e-5) == same, downscale
    with pytest.raises(ValueError, match="whole number that divides the head stride"):
        StudentConfig(input_scale=0.3, downscale="area")


def test_detail_branch_layout_by_start():
    """Space-to-depth by ``start``, one convolution there, then stride-2 convolutions down to the head
    stride; ``start=4`` keeps the layout (and the checkpoints) of students trained before the option."""
    shapes = {start: [tuple(m[0].weight.shape[:2]) for m in detail_branch(128, 8, start) if isinstance(m, torch.nn.Sequential)]
              for start in (4, 2, 1)}
    assert shapes == {4: [(64, 16), (128, 64)], 2: [(16, 4), (64, 16), (128, 64)], 1: [(8, 1), (16, 8), (64, 16), (128, 64)]}
    assert detail_branch(128, 8, 2)(torch.rand(1, 1, 32, 48)).shape == (1, 128, 4, 6)
    with pytest.raises(ValueError, match="detail_start"):
        detail_branch(128, 4, 8)


def tiny_config(store: Path, **extra) -> TrainConfig:
    cfg = load_config(TrainConfig, overrides=["crop=[64, 96]", "batch_size=2", "steps=4", "val_every=2", "val_fraction=0.3",
                                              "student.backbone_weights=none", "student.fpn_channels=16"])
    return replace(cfg, stores=[str(store)], device="cpu", **extra)


@pytest.fixture()
def tiny_store(image_folder, tmp_path) -> Path:
    config = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=2"])
    return label_images(list_images([image_folder]), config, tmp_path / "labels", progress=False).store


def test_training_writes_checkpoints_metrics_and_resumes(tiny_store, tmp_path):
    run = tmp_path / "run"
    cfg = tiny_config(tiny_store)
    cfg.losses.kl.weight = 0.5
    cfg.losses.consistency.weight = 0.5
    summary = train(cfg, run, progress=False)
    assert summary["steps"] == 4
    assert all((run / name).is_file() for name in ("last.pt", "best.pt", "metrics.jsonl", "metrics.png", "config.yaml", "provenance.yaml"))
    assert load_config(TrainConfig, run / "config.yaml") == cfg  # the saved configuration repeats the run
    assert str(tiny_store) in (run / "provenance.yaml").read_text()
    resumed = train(replace(cfg, steps=6), run, resume=True, progress=False)
    assert resumed["steps"] == 6 and torch.load(run / "last.pt", weights_only=True)["step"] == 6
    with pytest.raises(ConfigError, match=r"another configuration \(student.head_channels: 128 -> 8\)"):
        train(replace(cfg, steps=8, student=replace(cfg.student, head_channels=8)), run, resume=True, progress=False)
    detector = checkpoint_detector(run / "last.pt")
    scores = detector.score_map(np.zeros((100, 130), np.uint8))
    assert scores.shape == (100, 130)


def test_ema_checkpoints_hold_the_average_and_resume_from_the_weights_as_trained(tiny_store, tmp_path):
    """With ``ema`` the checkpoint's model is the moving average ``a <- d a + (1 - d) w`` of the weights
    ``w`` after each step (the first step copies them); resume goes on from ``w``, not from ``a``."""
    plain_run, ema_run = tmp_path / "plain", tmp_path / "ema"
    train(tiny_config(tiny_store, steps=1, val_every=1), plain_run, progress=False)
    after_one = torch.load(plain_run / "last.pt", weights_only=True)["model"]
    train(tiny_config(tiny_store, steps=2, val_every=1, ema=0.5), ema_run, progress=False)
    saved = torch.load(ema_run / "last.pt", weights_only=True)
    trained = saved["training_model"]
    key = "head.1.weight"
    # seeded alike, the two runs take the same first step: average = (w1 + w2) / 2
    assert torch.allclose(saved["model"][key], (after_one[key] + trained[key]) / 2, atol=1e-6)
    assert not torch.allclose(saved["model"][key], trained[key])
    train(tiny_config(tiny_store, steps=3, val_every=1, ema=0.5), ema_run, resume=True, progress=False)
    resumed = torch.load(ema_run / "last.pt", weights_only=True)
    assert resumed["step"] == 3
    assert torch.allclose(resumed["model"][key], (saved["model"][key] + resumed["training_model"][key]) / 2, atol=1e-6)
    slim = tmp_path / "slim.pt"
    write_slim(ema_run / "last.pt", slim)
    assert "training_model" not in torch.load(slim, weights_only=True)
    with pytest.raises(ValueError, match="ema"):
        tiny_config(tiny_store, ema=1.0)


def test_val_hpatches_picks_best_by_repeatability_on_the_sequences(tiny_store, hpatches_root, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_store, val_hpatches=str(hpatches_root)), run, progress=False)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if r["kind"] == "val"]
    assert len(val) == 2 and all(r["on"] == "hpatches" for r in val)
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["best"] == max(r["repeatability"] for r in val)
    # the recorded figure is what an independent evaluation of best.pt measures
    measured = evaluate([checkpoint_detector(run / "best.pt")], load_hpatches(hpatches_root), Protocol(), progress=False)
    assert measured[0].repeatability() == pytest.approx(best["best"], abs=1e-9)
    with pytest.raises(HPatchesError, match="nowhere"):
        train(tiny_config(tiny_store, val_hpatches=str(tmp_path / "nowhere")), tmp_path / "run2", progress=False)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_store, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_store, steps=2), run, progress=False)
    good = torch.load(run / "last.pt", weights_only=True)["step"]
    # the store's heatmaps go bad on disk (the same store, so the run may resume on it)
    for segment in tiny_store.with_suffix(".parts").glob("*.h5"):
        with h5py.File(segment, "r+") as f:
            f.visititems(lambda name, node: node.write_direct(np.full(node.shape, np.nan, node.dtype))
                         if name.endswith("heatmap") else None)
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 2.*last.pt"):
        train(tiny_config(tiny_store, steps=4), run, resume=True, progress=False)
    assert torch.load(run / "last.pt", weights_only=True)["step"] == good


@pytest.fixture(scope="module")
def lightglue_store(tmp_path_factory) -> Path:
    """A store of the four photos labelled with --lightglue at one view (heatmaps unlike tiny_store's two)."""
    folder = write_photos(tmp_path_factory.mktemp("lightglue") / "images")
    config = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=1", "lightglue.enabled=true"])
    return label_images(list_images([folder]), config, folder.parent / "labels", progress=False).store


def test_pair_mode_trains_on_lightglue_stores(lightglue_store, tmp_path):
    cfg = tiny_config(lightglue_store, steps=2)
    cfg.pair.enabled = True
    summary = train(cfg, tmp_path / "run", progress=False)
    rows = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert summary["steps"] == 2 and "pair_huber" in rows and "pair_consistency" in rows


def test_pair_mode_takes_each_images_pair_from_a_pair_store(lightglue_store, tiny_store, tmp_path):
    """pair.store: the heatmaps come from the training store and the LightGlue pair from the pair store,
    item for item as the pair store's own items; a store without pairs is refused by name."""
    from distill.student.data import LabelDataset
    from labels.store import StoreError

    paired = lightglue_store
    mixed = LabelDataset([tiny_store], "train", 0.3, (64, 96), augment=False, pair_sigma=1.0, pair_store=paired)
    own = LabelDataset([paired], "train", 0.3, (64, 96), augment=False, pair_sigma=1.0)
    plain = LabelDataset([tiny_store], "train", 0.3, (64, 96), augment=False)
    assert len(mixed) == len(own) == len(plain) > 0
    for i in range(len(mixed)):
        item, theirs, base = mixed[i], own[i], plain[i]
        assert torch.equal(item["heatmap"], base["heatmap"]) and not torch.equal(item["heatmap"], theirs["heatmap"])
        for name in ("target_a", "target_b", "homography", "image_b"):
            assert torch.equal(item[name], theirs[name]), name
        assert item["target_a"].max() > 0.5  # matched points of the pair store's pair
    cfg = tiny_config(tiny_store, steps=1)
    cfg.pair.enabled, cfg.pair.store = True, str(paired)
    train(cfg, tmp_path / "run", progress=False)
    assert list(yaml.safe_load((tmp_path / "run" / "provenance.yaml").read_text())["pair_store"]) == [str(paired)]
    with pytest.raises(StoreError, match=f"{tiny_store}.* holds no LightGlue pairs"):
        LabelDataset([paired], "train", 0.3, (64, 96), pair_sigma=1.0, pair_store=tiny_store)


def test_a_detector_fine_tune_on_matched_points_keeps_the_descriptor_branch(lightglue_store, tmp_path):
    """pair.focal with train_only=[fpn, head] on a student with descriptors: the focal term on the
    matched points trains the detector's pyramid and head, the store needs no teacher descriptors, and
    every part the descriptors are read from keeps its weights exactly."""
    cfg = tiny_config(lightglue_store, steps=2)
    cfg.student.descriptor_dim, cfg.student.descriptor_channels = 256, 16
    from distill.student.checkpoint import save_checkpoint
    start = Student(cfg.student)
    save_checkpoint(tmp_path / "start.pt", start, None, None, 0, 0.0, cfg)
    cfg.init, cfg.train_only = str(tmp_path / "start.pt"), ["fpn", "head"]
    cfg.pair.enabled, cfg.pair.focal, cfg.pair.huber, cfg.pair.consistency = True, 1.0, 0.0, 0.0
    train(cfg, tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    names = set().union(*rows)
    assert any("pair_focal" in name for name in names) and not any("pair_huber" in n or "descriptor" in n for n in names)
    trained, _ = load_student(tmp_path / "run" / "last.pt")
    before, after = start.state_dict(), trained.state_dict()
    for name, value in after.items():
        if name.split(".")[0] in ("backbone", "detail", "descriptor_fpn", "descriptor_head"):
            assert torch.equal(value.float(), before[name].float()), name
    assert any(not torch.equal(after[n], before[n]) for n in after if n.startswith("head.") and n.endswith("weight"))


@pytest.mark.parametrize("head", ["map", "cell"])
def test_every_loss_applies_to_both_heads(head):
    from distill.student.objective import compute_losses

    cfg = TrainConfig()
    for spec in vars(cfg.losses).values():
        spec.weight = 1.0
    model = Student(StudentConfig(head=head, backbone_weights="none", fpn_channels=16))
    heat = torch.zeros(2, 64, 96)
    heat[:, 20, 30] = 0.5
    batch = {"image": torch.rand(2, 1, 64, 96), "heatmap": heat, "variance": torch.full((2, 64, 96), 0.01),
             "valid": torch.ones(2, 64, 96), "mask": (heat > 0.015).float()}
    terms = compute_losses(model, batch, cfg, np.random.default_rng(0))
    assert set(terms) == {"focal", "kl", "attentive", "huber", "consistency", "repeatability", "total"}
    assert all(torch.isfinite(v) for v in terms.values())
    terms["total"].backward()
    assert all(p.grad is not None for p in model.head.parameters())


class PixelwiseNetwork(torch.nn.Module):
    """A network whose map moves exactly with its input under whole-pixel shifts: one 3x3 convolution, a map head."""

    head_type = "map"

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.conv(image)[:, 0]

    def probability(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)


def test_the_shift_consistency_term_asks_only_that_the_map_moves_with_the_content():
    """``losses.consistency.shift``: a network that is shift-equivariant by construction meets the term exactly on a
    real photo away from the crop's edge (its map of a shifted crop, shifted back, is its map of the crop), while a
    homography, which resamples the crop, does not; the shifts are whole pixels, each axis within the bound, every
    value drawn."""
    from distill.student.objective import compute_losses, whole_pixel_shift

    grey = cv2.imread(str(embedded("camera")), cv2.IMREAD_GRAYSCALE)
    image = torch.from_numpy(cv2.resize(grey, (96, 64)).astype(np.float32) / 255)[None, None].repeat(2, 1, 1, 1)
    valid = torch.zeros(2, 64, 96)
    valid[:, 8:-8, 8:-8] = 1  # away from the crop's edge, where a shifted copy meets the zero padding elsewhere
    batch = {"image": image, "heatmap": torch.zeros(2, 64, 96), "variance": torch.full((2, 64, 96), 0.01),
             "valid": valid, "mask": torch.zeros(2, 64, 96)}
    cfg = TrainConfig()
    cfg.losses.focal.weight, cfg.losses.attentive.weight, cfg.losses.consistency.weight = 0.0, 0.0, 1.0
    cfg.losses.consistency.shift = 7
    shifted = compute_losses(PixelwiseNetwork(), batch, cfg, np.random.default_rng(0))["consistency"]
    cfg.losses.consistency.shift = 0
    warped = compute_losses(PixelwiseNetwork(), batch, cfg, np.random.default_rng(0))["consistency"]
    assert shifted.item() < 1e-10 < 1e-6 < warped.item()
    rng = np.random.default_rng(1)
    shifts = np.stack([whole_pixel_shift(rng, 3) for _ in range(200)])
    assert np.array_equal(shifts[:, :2, :2], np.broadcast_to(np.eye(2), (200, 2, 2))) and np.all(shifts[:, 2] == [0, 0, 1])
    assert set(shifts[:, 0, 2]) == set(shifts[:, 1, 2]) == set(range(-3, 4))
    with pytest.raises(ValueError, match="losses.consistency.shift"):
        load_config(TrainConfig, None, ["losses.consistency.shift=-1"])


class ColumnParityNetwork(torch.nn.Module):
    """A map fixed to the pixel grid, not to the content: weak probabilities, twice as high on even columns
    (sigmoid(-6) = 0.0025) as on odd ones (sigmoid(-6.7) = 0.0012)."""

    head_type = "map"

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        even = torch.arange(image.shape[-1]) % 2 == 0
        return torch.where(even, -6.0, -6.7).expand(image.shape[0], image.shape[-2], -1).clone()

    def probability(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)


def test_the_consistency_term_in_log_space_sees_the_order_of_weak_maxima():
    """``losses.consistency.log_floor``: a shift by an odd number of columns swaps a grid-fixed map's weak values,
    which halves or doubles each: in probabilities the term hardly sees it (differences of 0.001), in log-probabilities
    it does (log 2 on every pixel). A shift-equivariant network still meets it exactly."""
    from distill.student.objective import compute_losses

    batch = {"image": torch.rand(2, 1, 32, 48), "heatmap": torch.zeros(2, 32, 48), "variance": torch.full((2, 32, 48), 0.01),
             "valid": torch.ones(2, 32, 48), "mask": torch.zeros(2, 32, 48)}
    cfg = TrainConfig()
    cfg.losses.focal.weight, cfg.losses.attentive.weight, cfg.losses.consistency.weight = 0.0, 0.0, 1.0
    cfg.losses.consistency.shift = 7
    rng_seed = 3  # draws an odd horizontal shift for both crops
    probability = compute_losses(ColumnParityNetwork(), batch, cfg, np.random.default_rng(rng_seed))["consistency"].item()
    cfg.losses.consistency.log_floor = 1e-3
    logarithm = compute_losses(ColumnParityNetwork(), batch, cfg, np.random.default_rng(rng_seed))["consistency"].item()
    assert probability < 1e-6 and logarithm > 0.03
    valid = torch.zeros(2, 32, 48)
    valid[:, 8:-8, 8:-8] = 1
    equivariant = compute_losses(PixelwiseNetwork(), {**batch, "valid": valid}, cfg, np.random.default_rng(0))["consistency"]
    assert equivariant.item() < 1e-10
    with pytest.raises(ValueError, match="losses.consistency.log_floor"):
        load_config(TrainConfig, None, ["losses.consistency.log_floor=1"])


def test_student_detect_and_its_checkpoint_detector_give_the_same_points(tiny_store, tmp_path):
    """One detection path: the checkpoint's detection settings, any image size (padded, never a point
    in the padding), the same points whether the student is called directly or as a detector."""
    run = tmp_path / "run"
    train(tiny_config(tiny_store, steps=2, val_every=2, detection=DetectionConfig(threshold=0.002, nms_radius=3)), run, progress=False)
    model, config = inference_student(run / "last.pt")  # the network the checkpoint's detector runs (tests/distill/test_inference.py)
    detector = checkpoint_detector(run / "last.pt")
    assert (detector.threshold, detector.nms_radius) == (0.002, 3)
    grey = (np.random.default_rng(0).random((100, 130)) * 255).astype(np.uint8)
    xy, scores = detect(detector, grey)
    direct = model.detect(torch.from_numpy(grey).float().div(255)[None, None], config.detection)[0]
    assert len(xy) > 10 and np.array_equal(direct.xy.numpy(), xy) and np.array_equal(direct.scores.numpy(), scores)
    assert np.array_equal(distill.Detector.from_checkpoint(run / "last.pt")(grey).keypoints, xy)  # the Python API
    assert xy[:, 0].max() <= 129 and xy[:, 1].max() <= 99


def test_checkpoints_of_the_flat_format_load_as_they_were_trained(tmp_path):
    """Format-1 checkpoints (a flat configuration, keys added later absent) load with the values they
    were trained with, not today's defaults, and give the same output."""
    config = TrainConfig()
    flat = {k: v for k, v in plain(config).items() if k not in ("student", "warp", "detection")}
    flat.update(backbone="tf_efficientnet_lite0", backbone_weights="none", head="cell", fpn_channels=16, input_scale=0.5,
                detection={"threshold": 0.015, "nms_radius": 4})
    torch.manual_seed(0)
    original = Student(StudentConfig(backbone_weights="none", fpn_channels=16, input_scale=0.5, detail_channels=0,
                                     head_channels=None, detail_start=4)).eval()
    torch.save({"model": original.state_dict(), "config": flat, "step": 7, "best": 0.5}, tmp_path / "old.pt")
    checkpoint = read_checkpoint(tmp_path / "old.pt")
    assert checkpoint.config.student.detail_channels == 0 and checkpoint.config.student.head_channels is None
    assert checkpoint.config.warp is True and checkpoint.config.detection == DetectionConfig() and checkpoint.step == 7
    model, _ = load_student(tmp_path / "old.pt")
    image = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(image), original(image))


def test_unreadable_checkpoints_are_named(tmp_path):
    good = tmp_path / "good.pt"
    torch.save({"model": {}, "config": {"unknown_key": 1}, "format": 2}, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:100])
    (tmp_path / "text.pt").write_text("not a checkpoint")
    for path, message in [(truncated, "not a distill checkpoint"), (tmp_path / "text.pt", "not a distill checkpoint"),
                          (good, "unknown configuration key 'unknown_key'"), (tmp_path / "none.pt", "checkpoint not found")]:
        with pytest.raises(CheckpointError, match=message):
            read_checkpoint(path)


def test_bench_groups_runs_that_differ_only_by_seed(tiny_store, tmp_path):
    from distill.bench.students import loss_label, recipe
    from distill.student.seeds import seed_groups

    paths = []
    for name, extra in [("a", {"seed": 0}), ("b", {"seed": 1, "keep_checkpoints": True}), ("c", {"seed": 2, "lr": 0.001})]:
        train(tiny_config(tiny_store, steps=1, val_every=1, name=name, **extra), tmp_path / name, progress=False)
        paths.append(tmp_path / name / "last.pt")
    assert seed_groups(paths) == [[0, 1]]
    model, losses = recipe(paths[0])
    assert model.endswith(f"1 steps on {tiny_store.stem}") and losses == "focal + attentive"
    assert loss_label("focal", 0.5, threshold=0.1) == "0.5·focal (target threshold 0.1)"


def test_kept_checkpoints_are_slim_and_ranked_against_hpatches(tiny_store, hpatches_root, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_store, steps=3, val_every=1, keep_checkpoints=True), run, progress=False)
    kept = sorted((run / "checkpoints").glob("step-*.pt"))
    assert [p.name for p in kept] == ["step-000001.pt", "step-000002.pt", "step-000003.pt"]
    state = torch.load(kept[0], weights_only=True)
    assert "optimiser" not in state and read_checkpoint(kept[0]).step == 1
    result = run_script("validation_agreement", str(run), "--root", str(hpatches_root))
    assert result.returncode == 0, result.stderr
    assert "Spearman rank correlation" in result.stdout and "| 3 |" in result.stdout


def test_train_learns_from_the_newest_store_of_each_teacher_given(tiny_store, image_folder, tmp_path, monkeypatch):
    """``--teacher`` repeated (as ``make demo``'s round two: SuperPoint's labels and round one's): one
    store of each in ``data/labels``, both trained on."""
    first = tmp_path / "round1"
    train(tiny_config(tiny_store, steps=1, val_every=1), first, progress=False)
    monkeypatch.chdir(tmp_path)
    teachers = ["superpoint", f"student:{first / 'last.pt'}"]
    for teacher in teachers:
        result = CliRunner().invoke(app, ["labels", "--images", str(image_folder), "--teacher", teacher, "--size", "96x128",
                                          "-n", "2", "--quiet", "--device", "cpu"])
        assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["train", *[a for t in teachers for a in ("--teacher", t)], "--name", "both", "--steps", "1",
                                      "--device", "cpu", "--quiet", "--set", "crop=[64, 96]", "--set", "batch_size=2",
                                      "--set", "val_every=1", "--set", "val_fraction=0.3", "--set", "student.backbone_weights=none"])
    assert result.exit_code == 0, result.output
    stores = read_checkpoint(tmp_path / "runs" / "both" / "last.pt").config.stores
    assert [Path(s).name.split("-")[0] for s in stores] == ["superpoint", "student"]
    assert all(Path(s).parent == Path("data/labels") for s in stores)


def test_a_released_student_teaches_by_its_name(image_folder, tmp_path):
    """``--teacher student:pretrained:fast`` labels with the released file itself: the same store, image for image, as
    ``--teacher student:<that file>`` (named by the file's checksum), which ``distill train --teacher`` finds by either
    name; an unknown release is named in the error."""
    from distill.pretrained import released_checkpoint

    released = released_checkpoint("fast")
    stores = []
    for teacher in ("student:pretrained:fast", f"student:{released}"):
        out = tmp_path / teacher.replace(":", "-").replace("/", "-")
        result = CliRunner().invoke(app, ["labels", "--images", str(image_folder), "--teacher", teacher, "--size", "96x128",
                                          "-n", "1", "--out", str(out), "--quiet", "--device", "cpu"])
        assert result.exit_code == 0, result.output
        stores.append(next(out.glob("student-*.h5")))
    assert stores[0].name == stores[1].name
    first, second = StoreReader(stores[0]), StoreReader(stores[1])
    assert len(first) == len(second) == 4
    for (key, labels), (other, same) in zip(first, second):
        assert key == other
        np.testing.assert_array_equal(labels.heatmap, same.heatmap)
    assert newest_store("student:pretrained:fast", stores[1].parent) == stores[1]
    refused = CliRunner().invoke(app, ["labels", "--images", str(image_folder), "--teacher", "student:pretrained:tiny",
                                       "--out", str(tmp_path / "c")])
    assert refused.exit_code == 1 and "no released student 'tiny'" in refused.output


def test_a_student_relabels_images_as_the_teacher_of_a_second_round(tiny_store, image_folder, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_store, steps=2, val_every=2), run, progress=False)
    copy = tmp_path / "elsewhere.pt"
    copy.write_bytes((run / "last.pt").read_bytes())
    names = []
    for checkpoint, out in [(run / "last.pt", tmp_path / "a"), (copy, tmp_path / "b")]:
        result = CliRunner().invoke(app, ["labels", "--images", str(image_folder), "--teacher", f"student:{checkpoint}", "--size", "96x128",
                                          "-n", "2", "--out", str(out), "--quiet", "--device", "cpu"])
        assert result.exit_code == 0, result.output
        names.append(next(out.glob("student-*.h5")).name)
    assert names[0] == names[1]  # named by the checkpoint's checksum, not its path
    reader = StoreReader(tmp_path / "a" / names[0])
    assert len(reader) == 4 and reader.attrs["teacher"] == "student" and "teacher: student" in reader.attrs["config_yaml"]
    # `distill train --teacher student:PATH` finds that store by the checkpoint's checksum, whatever its path
    assert newest_store(f"student:{copy}", tmp_path / "a") == tmp_path / "a" / names[0]
    (tmp_path / "other.pt").write_bytes(b"another checkpoint")
    for teacher in ["student:" + str(tmp_path / "other.pt"), "superpoint", "student:", "sift"]:
        with pytest.raises(typer.Exit):
            newest_store(teacher, tmp_path / "a")
    refused = CliRunner().invoke(app, ["labels", "--images", str(image_folder), "--teacher", f"student:{copy}", "--descriptors",
                                       "--out", str(tmp_path / "c")])
    assert refused.exit_code == 1 and f"the student {copy} has no descriptor head" in refused.output
    refused = CliRunner().invoke(app, ["labels", "--images", str(image_folder), "--teacher", f"student:{copy}", "--lightglue",
                                       "--out", str(tmp_path / "c")])
    assert refused.exit_code == 2 and "lightglue needs the superpoint teacher" in refused.output
