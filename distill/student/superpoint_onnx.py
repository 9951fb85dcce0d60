"""SuperPoint in ONNX Runtime, float and int8, exported as a student is (:func:`distill.student.onnx_model.export_graph`,
the same int8 recipe), so that speed and accuracy compare each network in each runtime alike.

The graph returns the ``B x H x W`` probability and the ``B x 256 x H/8 x W/8`` descriptors; detection runs a
copy cut down to the probability (:func:`distill.student.onnx_model.onnx_detector`). Both models are cached
in the ONNX cache (:mod:`distill.student.onnx_cache`), bound to the sha256 of the SuperPoint weights file and to
today's recipes, and made again when they are not. Needs the ``[onnx]`` extra."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from torch import nn

from distill.detection.detector import ScoreMapDetector
from distill.student.onnx_cache import SOURCE_KEY, cached_model
from labels.configuration import plain
from teachers import weights
from teachers.config import DetectionConfig
from teachers.superpoint import SuperPoint

SUPERPOINT_RUNTIMES = ("onnx", "onnx-int8")


class SuperPointGraph(nn.Module):
    """``B x 1 x H x W`` -> (``B x H x W`` probability, ``B x 256 x H/8 x W/8`` descriptors)."""

    def __init__(self, teacher: SuperPoint) -> None:
        super().__init__()
        self.teacher = teacher

    def forward(self, image: torch.Tensor):
        out = self.teacher(image)
        return out.probability, out.descriptors


def superpoint_onnx_model(int8: bool) -> Path:
    """The cached ONNX model (float, or int8) of the SuperPoint weights, made when missing or not bound."""
    from distill.student.onnx_model import EXTRA, RECIPE, OnnxUnavailableError, export_graph, save_atomically

    try:
        import onnx
    except ImportError:
        raise OnnxUnavailableError(f"SuperPoint in ONNX Runtime needs the [onnx] extra: {EXTRA}") from None
    checksum = weights.sha256_of(weights.locate(weights.SUPERPOINT))

    def export(path: Path) -> None:
        with tempfile.TemporaryDirectory() as folder:  # the exporter may write its weights beside the model
            teacher = SuperPoint.pretrained().to(memory_format=torch.contiguous_format)  # the graph as trained
            export_graph(SuperPointGraph(teacher).eval(), Path(folder) / "superpoint.onnx", ["probability", "descriptors"], stride=8)
            graph = onnx.load(str(Path(folder) / "superpoint.onnx"))
        for key, value in {"distill.stride": "8", "distill.detection": json.dumps(plain(DetectionConfig())),
                           "distill.source": "superpoint", SOURCE_KEY: checksum, "distill.export": RECIPE}.items():
            graph.metadata_props.add(key=key, value=value)
        save_atomically(graph, path)

    return cached_model(checksum, export, int8)


def superpoint_onnx_detector(runtime: str) -> ScoreMapDetector:
    """SuperPoint run by ONNX Runtime (``onnx`` or ``onnx-int8``) on the CPU, with SuperPoint's detection settings."""
    from distill.student.onnx_model import onnx_detector

    if runtime not in SUPERPOINT_RUNTIMES:
        raise ValueError(f"SuperPoint runs in ONNX Runtime as {' or '.join(SUPERPOINT_RUNTIMES)}, got {runtime!r}")
    return onnx_detector(superpoint_onnx_model(int8=runtime == "onnx-int8"), name=f"superpoint ({runtime})")
