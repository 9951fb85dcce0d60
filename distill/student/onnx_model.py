"""A student in ONNX, run by ONNX Runtime: export (``distill export --format onnx``) and a detector
(``--runtime onnx``) that post-processes the ONNX probability map exactly as the torch path does.

The graph takes a ``B x 1 x H x W`` grey image in [0, 1] with ``H`` and ``W`` multiples of the head
stride (8 for the cell head, dynamic) and returns the ``B x H x W`` keypoint probability (softmax,
dustbin dropped, depth-to-space inside) and, for a student with a descriptor head, its ``B x D x H/8 x
W/8`` L2-normalised descriptors as a second output (detection runs a copy of the graph without them).
Padding, NMS, threshold, top-k and the sampling of descriptors at the keypoints are the shared
post-processing (:func:`distill.detection.detector.detect`, :func:`~distill.detection.detector.describing`);
the detection settings travel in the model's metadata.
Exported with ``torch.onnx.export(..., dynamo=True)``: the legacy exporter rejects the student's
antialiased input resize. Needs the ``[onnx]`` extra (onnx, onnxruntime, onnxscript).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distill.detection.detector import Describer, ScoreMapDetector, describing, sampled
from distill.student.balance import balance_for_int8, calibration_images
from distill.student.checkpoint import CheckpointError, load_student
from distill.student.onnx_cache import SOURCE_KEY
from labels.configuration import plain
from teachers.config import DetectionConfig
from teachers.weights import sha256_of

EXTRA = "pip install 'distill[onnx]' (onnx, onnxruntime, onnxscript)"
# written into every exported model: a cached model made by another recipe is exported again (distill.student.onnx_cache)
RECIPE = ("dynamo opset 18, softmax over the last axis, batch norms foldable, SpaceToDepth, head input balanced, "
          "descriptor pyramid balanced, descriptors output")


class OnnxUnavailableError(RuntimeError):
    """The ``[onnx]`` extra is not installed; the message says how to install it."""


class ExportedStudent(nn.Module):
    """``B x 1 x H x W`` (sides multiples of the stride) -> ``B x H x W`` probability of a student, and
    ``B x D x H/8 x W/8`` descriptors too when it has a descriptor head (one backbone pass for both)."""

    def __init__(self, student: nn.Module) -> None:
        super().__init__()
        self.student = student

    def forward(self, image: torch.Tensor):
        encoding = self.student.encode(image)
        probability = self.student.probability(self.student.keypoint_logits(encoding))
        return probability if self.student.descriptor_head is None else (probability, self.student.describe(encoding))


def space_to_depth(image, downscale_factor: int):
    """``aten.pixel_unshuffle`` as ONNX's own ``SpaceToDepth`` (same channel order): the exporter's
    reshape and 6-D transpose take 1.0 ms on a 480x640 image in ONNX Runtime, ``SpaceToDepth`` 0.07."""
    from onnxscript import opset18

    return opset18.SpaceToDepth(image, blocksize=downscale_factor)


def export_onnx(checkpoint: Path, out: Path, opset: int = 18) -> Path:
    """Write the student of ``checkpoint`` as ONNX with dynamic batch, height and width, its heads' inputs
    balanced for int8 (:func:`distill.student.balance.balance_for_int8`; the float function is unchanged)."""
    try:
        import onnx
    except ImportError:
        raise OnnxUnavailableError(f"ONNX export needs the [onnx] extra: {EXTRA}") from None
    model, config = load_student(checkpoint)
    balance_for_int8(model, calibration_images())
    stride = model.size_multiple
    outputs = ["probability"] + (["descriptors"] if model.descriptor_head is not None else [])
    with tempfile.TemporaryDirectory() as folder:  # the exporter may write its weights beside the model
        export_graph(ExportedStudent(model).eval(), Path(folder) / "model.onnx", outputs, stride, opset)
        graph = onnx.load(str(Path(folder) / "model.onnx"))
    let_batch_norms_fold(graph)
    for key, value in {"distill.stride": str(stride), "distill.detection": json.dumps(plain(config.detection)),
                       "distill.source": str(checkpoint), SOURCE_KEY: sha256_of(checkpoint), "distill.export": RECIPE}.items():
        graph.metadata_props.add(key=key, value=value)
    save_atomically(graph, out)
    return out


def save_atomically(graph, out: Path) -> None:
    """``onnx.save`` under a temporary name beside ``out``, then renamed over it: ``out`` is never half-written."""
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")
    try:
        onnx.save(graph, str(partial))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


def export_graph(network: nn.Module, out: Path, outputs: list[str], stride: int, opset: int = 18) -> None:
    """``torch.onnx.export(..., dynamo=True)`` of ``network`` (input ``image``, ``B x 1 x H x W``) to
    ``out``, batch dynamic and ``H``, ``W`` any multiples of ``stride``; ``pixel_unshuffle`` as ``SpaceToDepth``.
    Also exports SuperPoint for the speed benchmark, so that both networks are exported alike."""
    batch, rows, cols = (torch.export.Dim(name, min=lo, max=hi) for name, lo, hi in
                         (("batch", 1, 256), ("rows", 2, 1024), ("cols", 2, 1024)))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(network, (torch.rand(1, 1, 30 * stride, 40 * stride),), str(out), dynamo=True,
                      input_names=["image"], output_names=outputs, opset_version=opset,
                      dynamic_shapes={"image": {0: batch, 2: stride * rows, 3: stride * cols}},
                      custom_translation_table={torch.ops.aten.pixel_unshuffle.default: space_to_depth})


def let_batch_norms_fold(graph) -> int:
    """Point every ``Shape`` node that reads a convolution's output at the output of the batch norm
    after it (the same shape), so that the convolution has one consumer and ONNX Runtime folds the
    batch norm into it. timm's TF-"same" padding reads those shapes; unfolded, each batch norm stays
    a separate float node, and in an int8 model a dequantise-quantise pair around it (about 1 of the
    24 ms of the int8 student at 480x640). Returns the number of ``Shape`` nodes moved."""
    readers: dict[str, list] = {}
    for node in graph.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    moved = 0
    for node in graph.graph.node:
        users = readers.get(node.output[0], []) if node.op_type == "Conv" else []
        norms = [user for user in users if user.op_type == "BatchNormalization"]
        if len(norms) == 1 and all(user.op_type in ("Shape", "BatchNormalization") for user in users):
            for user in users:
                if user.op_type == "Shape":
                    user.input[0] = norms[0].output[0]
                    moved += 1
    return moved


def session_options(threads: int = 0):
    """ONNX Runtime's session options for every model here: denormals flushed to zero, and no busy-waiting of the
    thread pool between runs (it would steal the CPU from whatever runs next); ``threads`` intra-op threads (0: ONNX
    Runtime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def onnx_detector(path: Path, device: str = "cpu", name: str | None = None) -> ScoreMapDetector:
    """An exported student run by ONNX Runtime (the CUDA provider when ``device`` is CUDA and it is
    available, else the CPU), with its exported detection settings."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise OnnxUnavailableError(f"--runtime onnx needs the [onnx] extra: {EXTRA}") from None
    options = session_options()
    providers = ["CUDAExecutionProvider"] if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers() else []
    if not Path(path).is_file():
        raise CheckpointError(f"ONNX model not found: {path}")
    try:
        session = ort.InferenceSession(str(path), options, providers=providers + ["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime's InvalidProtobuf, Fail, InvalidGraph ... for a damaged or foreign file
        raise CheckpointError(f"{path}: not a readable ONNX model ({str(error).splitlines()[0][:200]})") from None
    meta = session.get_modelmeta().custom_metadata_map
    stride = int(meta.get("distill.stride", 8))
    detection = json.loads(meta.get("distill.detection") or json.dumps(plain(DetectionConfig())))
    described = "descriptors" in [output.name for output in session.get_outputs()]
    # ONNX Runtime runs the whole graph whichever outputs are asked for (a descriptor branch nearly doubles
    # the fast student's int8 time): detection gets a copy of the graph cut down to the probability
    detector = ort.InferenceSession(detection_graph(path), options, providers=providers + ["CPUExecutionProvider"]) \
        if described else session

    def inputs(grey: np.ndarray) -> dict:
        # NumPy, not torch, before the session: a torch operation here costs about 1 ms more per image,
        # its thread pool waking while ONNX Runtime's runs
        h, w = grey.shape
        return {"image": (np.pad(grey, ((0, (-h) % stride), (0, (-w) % stride))).astype(np.float32) / 255)[None, None]}

    def probability(grey: np.ndarray) -> torch.Tensor:
        h, w = grey.shape
        return torch.from_numpy(detector.run(["probability"], inputs(grey))[0][0, :h, :w])

    score, describe = probability, None
    if described:
        asked = {"descriptors": False}  # once descriptors are asked for, one run of the whole graph gives both

        def network(grey: np.ndarray) -> tuple[torch.Tensor, Describer]:
            if asked["descriptors"]:
                h, w = grey.shape
                probabilities, descriptors = session.run(["probability", "descriptors"], inputs(grey))
                return torch.from_numpy(probabilities[0, :h, :w]), sampled(lambda: torch.from_numpy(descriptors))

            def later() -> torch.Tensor:
                asked["descriptors"] = True
                return torch.from_numpy(session.run(["descriptors"], inputs(grey))[0])

            return probability(grey), sampled(later)

        score, describe = describing(network, "cpu")
    return ScoreMapDetector(name or f"student-onnx:{Path(path).stem}", score, threshold=detection["threshold"],
                            nms_radius=detection["nms_radius"], device="cpu", describe=describe)


def detection_graph(path: Path) -> bytes:
    """The ONNX model at ``path`` cut down to the nodes its ``probability`` output needs (serialised)."""
    import onnx

    return onnx.utils.Extractor(onnx.load(str(path))).extract_model(["image"], ["probability"]).SerializeToString()
