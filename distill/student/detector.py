"""A trained student as an evaluation/export detector: the same probability map and the same
detection settings (the checkpoint's) as :meth:`Student.detect`."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from distill.eval.detectors import ScoreMapDetector, describing, to_tensor
from distill.student.checkpoint import load_student
from distill.student.model import Student
from teachers.keypoints import DetectionConfig


def student_detector(model: Student, name: str, detection: DetectionConfig, device: str = "cpu") -> ScoreMapDetector:
    """Dense probability of a student (in eval mode) with ``detection``'s threshold and NMS radius, and
    its descriptors when it has a descriptor head (computed only when asked for)."""
    if model.descriptor_head is None:
        @torch.inference_mode()
        def score(grey: np.ndarray) -> torch.Tensor:
            return model.probability_map(to_tensor(grey, device))[0]

        return ScoreMapDetector(name, score, threshold=detection.threshold, nms_radius=detection.nms_radius, device=device)
    def network(grey: np.ndarray) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
        probability, later = model.probability_then_descriptors(to_tensor(grey, device))
        return probability[0], lambda: later()[0]

    score, describe = describing(network, device)
    return ScoreMapDetector(name, score, threshold=detection.threshold, nms_radius=detection.nms_radius, device=device,
                            describe=describe)


RUNTIMES = ("torch", "onnx", "onnx-int8")  # the command line's --runtime choices (distill.commands.common.Runtime)


def checkpoint_detector(path: Path, device: str = "cpu", runtime: str = "torch") -> ScoreMapDetector:
    """A student from a checkpoint, run by PyTorch or (``runtime="onnx"``, or a ``.onnx`` file) by ONNX
    Runtime; a checkpoint is exported once to ``<checkpoint>.onnx`` (:func:`export_path`) for ONNX
    Runtime, and quantised once more to ``<checkpoint>.int8.onnx`` for ``runtime="onnx-int8"``."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(map(repr, RUNTIMES))}, got {runtime!r}")
    path = Path(path)
    name = f"student:{path.parent.name}/{path.stem}"
    if path.suffix == ".onnx" or runtime != "torch":
        from distill.student import onnx_model, quantize

        model_file = path if path.suffix == ".onnx" else export_path(path)
        if path.suffix != ".onnx" and _outdated(model_file, path, "distill.export", onnx_model.RECIPE):
            onnx_model.export_onnx(path, model_file)
        if runtime != "onnx-int8":
            return onnx_model.onnx_detector(model_file, device, name=f"{name} (onnx)")
        int8_file = model_file.with_suffix(".int8.onnx")
        if _outdated(int8_file, model_file, "distill.int8", quantize.RECIPE):
            quantize.quantize_int8(model_file, int8_file)
        return onnx_model.onnx_detector(int8_file, device, name=f"{name} (onnx int8)")
    model, config = load_student(path, device)
    return student_detector(model, name, config.detection, device)


def export_path(checkpoint: Path) -> Path:
    """Where the ONNX export of ``checkpoint`` is kept: ``<checkpoint>.onnx`` beside it, or, when that
    folder is not writable (the packaged student in a read-only install), in ``$XDG_CACHE_HOME/distill``
    (default ``~/.cache/distill``) under a name made from the checkpoint's full path."""
    if os.access(checkpoint.parent, os.W_OK):
        return checkpoint.with_suffix(".onnx")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "distill"
    tag = hashlib.sha256(str(checkpoint.resolve()).encode()).hexdigest()[:10]
    return cache / f"{checkpoint.stem}-{tag}.onnx"


def _outdated(derived: Path, source: Path, key: str, recipe: str) -> bool:
    """Whether the ONNX model ``derived`` (made from ``source``) is missing, older than it, or made by
    another recipe than ``recipe`` (its ``key`` metadata): then it is made again."""
    from distill.student.onnx_model import recipe_of

    if not derived.is_file() or derived.stat().st_mtime < source.stat().st_mtime:
        return True
    return recipe_of(derived, key) != recipe
