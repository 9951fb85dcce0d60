"""A trained student as an evaluation/export detector: the same probability map and the same
detection settings (the checkpoint's) as :meth:`Student.detect`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from distill.choices import RUNTIMES
from distill.detection.detector import Describer, ScoreMapDetector, describing, to_tensor
from distill.student.checkpoint import CheckpointError, read_checkpoint
from distill.student.inference import inference_student
from distill.student.model import Student
from teachers.config import DetectionConfig


def student_detector(model: Student, name: str, detection: DetectionConfig, device: str = "cpu") -> ScoreMapDetector:
    """Dense probability of a student (in eval mode) with ``detection``'s threshold and NMS radius, and
    its descriptors when it has a descriptor head (computed only when asked for, at the points asked for:
    :meth:`Student.descriptors_at`)."""
    def batch(images: torch.Tensor) -> tuple[torch.Tensor, Describer | None]:
        if model.descriptor_head is None:
            return model.probability_map(images), None
        probability, encoding = model.encoded_probability(images)
        return probability, lambda points: model.descriptors_at(encoding, points)

    settings = dict(threshold=detection.threshold, nms_radius=detection.nms_radius, device=device, network=batch)
    if model.descriptor_head is None:
        @torch.inference_mode()
        def score(grey: np.ndarray) -> torch.Tensor:
            return model.probability_map(to_tensor(grey, device))[0]

        return ScoreMapDetector(name, score, **settings)

    def network(grey: np.ndarray) -> tuple[torch.Tensor, Describer]:
        probability, describer = batch(to_tensor(grey, device))
        return probability[0], describer

    score, describe = describing(network, device)
    return ScoreMapDetector(name, score, describe=describe, **settings)


def checkpoint_detector(path: Path, device: str = "cpu", runtime: str = "torch", name: str | None = None) -> ScoreMapDetector:
    """A student from a checkpoint, run by PyTorch or (``runtime="onnx"`` / ``"onnx-int8"``, or a ``.onnx``
    file) by ONNX Runtime: the ONNX model bound to that checkpoint (:mod:`distill.student.onnx_cache`:
    a release's shipped model, or an export cached by the checkpoint's sha256). ``name``: what reports call it
    (default ``student:<folder>/<file stem>``), the runtime appended. It matches above the LightGlue threshold the
    checkpoint stores (none for a ``.onnx`` file)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(map(repr, RUNTIMES))}, got {runtime!r}")
    path = Path(path)
    name = name or f"student:{path.parent.name}/{path.stem}"
    if path.suffix == ".onnx":
        from distill.student.onnx_model import onnx_detector

        return onnx_detector(path, device, name=f"{name} (onnx)")
    if runtime != "torch":
        from distill.student.onnx_cache import onnx_model_for
        from distill.student.onnx_model import onnx_detector

        if not path.is_file():
            raise CheckpointError(f"checkpoint not found: {path}")
        int8 = runtime == "onnx-int8"
        detector = onnx_detector(onnx_model_for(path, int8), device, name=f"{name} (onnx{' int8' if int8 else ''})")
        detector.filter_threshold = read_checkpoint(path).config.filter_threshold
        return detector
    model, config = inference_student(path, device)
    detector = student_detector(model, name, config.detection, device)
    detector.filter_threshold = config.filter_threshold
    return detector
