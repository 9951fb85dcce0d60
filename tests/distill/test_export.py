"""Slim and ONNX exports of a trained student against the PyTorch path."""
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from distill.cli import app
from distill.detection.detector import detect
from distill.student.checkpoint import read_checkpoint
from distill.student.detector import checkpoint_detector
from distill.student.onnx_cache import cached_paths, metadata
from distill.student.onnx_model import let_batch_norms_fold
from distill.student.quantize import RECIPE, quantize_int8
from distill.training.trainer import train
from labels.config import LabelConfig
from labels.configuration import load_config
from labels.images import list_images
from labels.run import label_images
from teachers.weights import sha256_of
from tests.conftest import embedded, write_photos
from tests.distill.test_student import tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The last.pt of a short training run on a few real photos."""
    root = tmp_path_factory.mktemp("export")
    folder = write_photos(root / "images")
    config = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=2"])
    store = label_images(list_images([folder]), config, root / "labels", progress=False).store
    config = tiny_config(store, steps=3, val_every=3)
    # timm's smallest EfficientNet, made for tests (random initialisation, no download): the quickest ONNX export
    config = replace(config, student=replace(config.student, backbone="test_efficientnet", detail_channels=16, head_channels=16))
    train(config, root / "run", progress=False)
    return root / "run" / "last.pt"


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory) -> tuple[Path, Path]:
    """``distill export --format onnx --int8`` of ``trained``: the float and the int8 model. Both are also put
    where ``--runtime onnx`` looks for them (they carry its checksum and today's recipes), so that the tests of
    the runtime do not export the same checkpoint again (half a minute each); exporting into the cache is
    tested on a checkpoint of its own (descriptors) and after damage (below)."""
    pytest.importorskip("onnxruntime")
    model = tmp_path_factory.mktemp("exported") / "student.onnx"
    result = CliRunner().invoke(app, ["export", "--checkpoint", str(trained), "--out", str(model), "--format", "onnx", "--int8"])
    assert result.exit_code == 0, result.output
    int8 = model.with_name("student.int8.onnx")
    for made, cached in zip((model, int8), cached_paths(sha256_of(trained))):
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(made, cached)
    return model, int8


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    grey = cv2.imread(str(embedded("camera")), cv2.IMREAD_GRAYSCALE)
    return cv2.resize(grey, (323, 241), interpolation=cv2.INTER_AREA)  # sides not multiples of 8


def test_slim_float16_export_keeps_the_points(trained, photo, tmp_path):
    out = tmp_path / "slim.pt"
    result = CliRunner().invoke(app, ["export", "--checkpoint", str(trained), "--out", str(out), "--fp16"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size < trained.stat().st_size / 3 and "optimiser" not in torch.load(out, weights_only=True)
    assert read_checkpoint(out).config == read_checkpoint(trained).config
    full, _ = detect(checkpoint_detector(trained), photo, top_k=300)
    half, _ = detect(checkpoint_detector(out), photo, top_k=300)
    shared = {tuple(p) for p in full} & {tuple(p) for p in half}
    assert len(shared) >= 0.95 * len(full)


def test_an_export_stores_the_students_lightglue_threshold(trained, tmp_path):
    """``distill export --filter-threshold``: the checkpoint carries it (and nothing else changes), and matching takes
    it unless told otherwise; a checkpoint without one takes LightGlue's default."""
    import distill
    from distill.eval.matching import MatchingProtocol, lightglue_threshold

    out = tmp_path / "tuned.pt"
    result = CliRunner().invoke(app, ["export", "--checkpoint", str(trained), "--out", str(out), "--filter-threshold", "0.6"])
    assert result.exit_code == 0 and "LightGlue threshold 0.6" in result.output, result.output
    assert replace(read_checkpoint(out).config, filter_threshold=None) == read_checkpoint(trained).config
    tuned, plain = distill.Detector.load(out, "cpu"), distill.Detector.load(trained, "cpu")
    assert (tuned.filter_threshold, plain.filter_threshold) == (0.6, None)
    assert lightglue_threshold(tuned.detector, MatchingProtocol()) == 0.6
    assert lightglue_threshold(tuned.detector, MatchingProtocol(filter_threshold=0.2)) == 0.2
    assert lightglue_threshold(plain.detector, MatchingProtocol()) == 0.1
    onnx = CliRunner().invoke(app, ["export", "--checkpoint", str(trained), "--out", str(tmp_path / "x.onnx"), "--format", "onnx",
                                    "--filter-threshold", "0.6"])
    assert onnx.exit_code == 2 and "--filter-threshold is stored in a checkpoint" in onnx.output
    certain = CliRunner().invoke(app, ["export", "--checkpoint", str(trained), "--out", str(tmp_path / "y.pt"), "--filter-threshold", "1"])
    assert certain.exit_code == 2 and "--filter-threshold" in certain.output


def test_onnx_runtime_gives_the_torch_points(trained, exported, photo):
    onnx = pytest.importorskip("onnx")
    model, _ = exported
    reference = checkpoint_detector(trained)
    runtime = checkpoint_detector(model)
    assert (runtime.threshold, runtime.nms_radius) == (reference.threshold, reference.nms_radius)
    xy, scores = detect(reference, photo, top_k=300)
    onnx_xy, onnx_scores = detect(runtime, photo, top_k=300)
    assert len(xy) == 300 and np.array_equal(onnx_xy, xy)
    assert np.abs(onnx_scores - scores).max() < 1e-3
    dense = (reference.score_map(photo) - runtime.score_map(photo)).abs().max()
    assert dense < 1e-5  # the probability maps themselves, with the head's input balanced for int8
    graph = [node.op_type for node in onnx.load(str(model)).graph.node]
    assert "SpaceToDepth" in graph  # the detail branch's pixel_unshuffle, in one ONNX node


def test_batch_norms_after_tf_same_padded_convolutions_fold_before_int8_quantisation(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from timm.layers import create_conv2d
    nn = torch.nn
    torch.manual_seed(0)
    # tf_efficientnet_lite0's pattern: the TF-"same" padding of a stride-2 convolution after an expansion
    # reads the shape of the expansion's output, before its batch norm
    block = nn.Sequential(create_conv2d(1, 4, 3, stride=2, padding="same"), nn.BatchNorm2d(4), nn.ReLU6(),
                          nn.Conv2d(4, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
                          create_conv2d(8, 8, 3, stride=2, padding="same", groups=8), nn.BatchNorm2d(8)).eval()
    for norm in (block[1], block[4], block[7]):
        norm.running_mean.uniform_(-1, 1), norm.running_var.uniform_(0.5, 2), norm.weight.data.uniform_(0.5, 2)
    image = torch.rand(1, 1, 37, 50)
    rows, cols = torch.export.Dim("rows", min=4, max=512), torch.export.Dim("cols", min=4, max=512)
    torch.onnx.export(block, (image,), str(tmp_path / "block.onnx"), dynamo=True, dynamic_shapes=({2: rows, 3: cols},))
    graph = onnx.load(str(tmp_path / "block.onnx"))
    name = graph.graph.input[0].name

    def norms_left_in_int8(model) -> int:
        onnx.save(model, str(tmp_path / "float.onnx"))
        output = ort.InferenceSession(str(tmp_path / "float.onnx")).run(None, {name: image.numpy()})[0]
        assert np.abs(output - block(image).detach().numpy()).max() < 1e-5
        quantize_int8(tmp_path / "float.onnx", tmp_path / "int8.onnx", [image.numpy()] * 2, input_name=name)
        return sum(node.op_type == "BatchNormalization" for node in onnx.load(str(tmp_path / "int8.onnx")).graph.node)

    assert norms_left_in_int8(graph) >= 1
    assert let_batch_norms_fold(graph) >= 1 and norms_left_in_int8(graph) == 0


def test_runtime_onnx_in_detect_and_a_clear_message_without_the_extra(trained, exported, photo, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    outputs = {}
    for runtime in ("torch", "onnx"):
        result = CliRunner().invoke(app, ["detect", str(tmp_path / "photo.png"), "--checkpoint", str(trained), "--runtime", runtime,
                                          "--top-k", "100", "--out", str(tmp_path / runtime), "--quiet"])
        assert result.exit_code == 0, result.output
        outputs[runtime] = np.load(tmp_path / runtime / "photo.npz")["keypoints"]
    assert np.array_equal(outputs["torch"][:, :2], outputs["onnx"][:, :2])
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the extra were not installed
    result = CliRunner().invoke(app, ["detect", str(tmp_path / "photo.png"), "--checkpoint", str(cached_paths(sha256_of(trained))[0]),
                                      "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "[onnx] extra" in result.output


def test_int8_export_quantises_every_convolution_and_keeps_the_points_close(trained, exported, photo, tmp_path):
    onnx = pytest.importorskip("onnx")
    model, int8 = exported
    quantized = onnx.load(str(int8))
    convolutions = [node for node in quantized.graph.node if node.op_type == "Conv"]
    dequantized = {output for node in quantized.graph.node if node.op_type == "DequantizeLinear" for output in node.output}
    assert convolutions and all(c.input[0] in dequantized and c.input[1] in dequantized for c in convolutions)
    reference, quantised = checkpoint_detector(model), checkpoint_detector(int8)
    assert (quantised.threshold, quantised.nms_radius) == (reference.threshold, reference.nms_radius)  # metadata kept
    assert metadata(int8).get("distill.int8") == RECIPE and metadata(model).get("distill.int8") is None
    float_map, int8_map = reference.score_map(photo).numpy(), quantised.score_map(photo).numpy()
    assert not np.array_equal(float_map, int8_map) and np.corrcoef(float_map.ravel(), int8_map.ravel())[0, 1] > 0.9
    refused = CliRunner().invoke(app, ["export", "--checkpoint", str(trained), "--out", str(tmp_path / "x.pt"), "--int8"])
    assert refused.exit_code == 2 and "--format onnx" in refused.output


def test_the_api_runs_a_checkpoint_in_onnx_runtime_from_the_users_cache(trained, exported, photo, onnx_cache):
    pytest.importorskip("onnxruntime")
    import distill

    torch_points = distill.Detector.from_checkpoint(trained)(photo, top_k=100).keypoints
    with pytest.raises(ValueError, match="onnx-int8"):
        distill.Detector.from_checkpoint(trained, runtime="tensorrt")
    before = sorted(trained.parent.iterdir())
    assert np.array_equal(distill.Detector.from_checkpoint(trained, runtime="onnx")(photo, top_k=100).keypoints, torch_points)
    cached, _ = cached_paths(sha256_of(trained))
    assert cached.parent == onnx_cache and cached.is_file()  # $XDG_CACHE_HOME/distill/onnx, shared with the other tests
    assert sorted(trained.parent.iterdir()) == before  # nothing is written (or read) beside the checkpoint


@pytest.mark.parametrize("levels", [{}, {"backbone_levels": 2, "descriptor_levels": 4},
                                    {"descriptor_separable": True, "descriptor_hidden": 32}],
                         ids=["branch", "deeper-stages", "separable"])
def test_onnx_runtime_gives_a_students_descriptors_and_detects_without_their_branch(photo, tmp_path, levels):
    """A student with a descriptor head exports them as a second output: sampled at the same points they
    are PyTorch's; detection runs a graph cut down to the probability, without the descriptor branch (nor
    the backbone stages computed for the descriptors alone)."""
    onnx = pytest.importorskip("onnx")
    from distill.detection.detector import describe
    from distill.student.checkpoint import save_checkpoint
    from distill.student.config import StudentConfig, TrainConfig
    from distill.student.model import Student
    from distill.student.onnx_model import detection_graph

    config = StudentConfig(backbone="test_efficientnet", backbone_weights="none", detail_channels=16, head_channels=16,
                           descriptor_dim=256, descriptor_channels=16, **levels)
    torch.manual_seed(0)
    checkpoint = tmp_path / "described.pt"
    save_checkpoint(checkpoint, Student(config).eval(), None, None, 0, -1.0, TrainConfig(student=config))
    reference, exported = checkpoint_detector(checkpoint), checkpoint_detector(checkpoint, runtime="onnx")
    xy, _ = detect(reference, photo, top_k=100)
    assert np.array_equal(detect(exported, photo, top_k=100)[0], xy)
    np.testing.assert_allclose(describe(exported, photo, xy), describe(reference, photo, xy), atol=1e-4)
    # descriptors were asked for: the next image runs the whole graph once for both, with the same results
    again = photo.copy()
    assert np.array_equal(detect(exported, again, top_k=100)[0], xy)
    np.testing.assert_allclose(describe(exported, again, xy), describe(reference, photo, xy), atol=1e-4)
    cached, _ = cached_paths(sha256_of(checkpoint))
    full = onnx.load(str(cached))
    cut = onnx.load_from_string(detection_graph(cached))
    assert [o.name for o in full.graph.output] == ["probability", "descriptors"]
    assert [o.name for o in cut.graph.output] == ["probability"] and len(cut.graph.node) < len(full.graph.node)


def fake_model(genuine: Path, out: Path, metadata: dict | None = None) -> Path:
    """A valid ONNX model that is not the student (its "probability" is the input image itself), carrying
    the genuine model's metadata (source checksum and recipe tags copied in) unless ``metadata`` is given."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Squeeze", ["image", "axis"], ["probability"])], "fake",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["b", 1, "h", "w"])],
                              [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["b", "h", "w"])],
                              [helper.make_tensor("axis", TensorProto.INT64, [1], [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    tags = metadata if metadata is not None else {p.key: p.value for p in onnx.load(str(genuine)).metadata_props}
    helper.set_model_props(model, tags)
    onnx.save(model, str(out))
    return out


def test_a_tampered_or_broken_cached_onnx_model_is_never_run(trained, exported, photo, tmp_path):
    """What ONNX Runtime runs is bound to the checkpoint: a fake model beside it (tags copied in) is never
    read; in the cache, a model of another checkpoint, a truncated one, random bytes or a genuine export
    from before the export recipe was recorded are made again."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    checkpoint = tmp_path / "run" / "last.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(trained.read_bytes())
    reference = {runtime: detect(checkpoint_detector(checkpoint, runtime=runtime), photo, top_k=100)[0] for runtime in ("onnx", "onnx-int8")}
    cached = dict(zip(("onnx", "onnx-int8"), cached_paths(sha256_of(checkpoint))))
    fake = fake_model(cached["onnx"], tmp_path / "fake.onnx")
    assert not np.array_equal(detect(checkpoint_detector(fake), photo, top_k=100)[0], reference["onnx"])  # it does run, wrongly
    for name, genuine in zip(("last.onnx", "last.int8.onnx"), cached.values()):  # planted beside the checkpoint, genuine tags
        fake_model(genuine, checkpoint.parent / name)
    def tags_of(path: Path) -> dict:  # but the path it was exported from (the cache is shared by checksum)
        return {p.key: p.value for p in onnx.load(str(path)).metadata_props if p.key != "distill.source"}

    tags = {runtime: tags_of(genuine) for runtime, genuine in cached.items()}

    def without_recipe(path: Path) -> None:
        model = onnx.load(str(path))
        for prop in [p for p in model.metadata_props if p.key == "distill.export"]:
            model.metadata_props.remove(prop)
        onnx.save(model, str(path))

    damages = {"another checkpoint's": lambda path: fake_model(path, path, {**tags["onnx-int8"], "distill.source_sha256": "0" * 64}),
               "truncated": lambda path: path.write_bytes(path.read_bytes()[:483]),
               "random": lambda path: path.write_bytes(np.random.default_rng(0).bytes(2048))}
    # each damage to the int8 model (quantised again, seconds), one to the float model (exported again, half a minute)
    cases = [("onnx-int8", name, damage) for name, damage in damages.items()] + [("onnx", "another recipe's", without_recipe)]
    for runtime, name, damage in cases:
        damage(cached[runtime])
        assert np.array_equal(detect(checkpoint_detector(checkpoint, runtime=runtime), photo, top_k=100)[0], reference[runtime]), name
        assert tags_of(cached[runtime]) == tags[runtime]  # made again
    explicit = tmp_path / "broken.onnx"
    explicit.write_bytes(b"\x08\x01garbage")
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    result = CliRunner().invoke(app, ["detect", str(tmp_path / "photo.png"), "--checkpoint", str(explicit), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "broken.onnx: not a readable ONNX model" in result.output and "Traceback" not in result.output
