"""A trained student as an evaluation/export detector: the same probability map and the same
detection settings (the checkpoint's) as :meth:`Student.detect`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from distill.eval.detectors import ScoreMapDetector, to_tensor
from distill.student.checkpoint import load_student
from distill.student.model import Student
from teachers.keypoints import DetectionConfig
from teachers.superpoint import sample_descriptors


def student_detector(model: Student, name: str, detection: DetectionConfig, device: str = "cpu") -> ScoreMapDetector:
    """Dense probability of a student (in eval mode) with ``detection``'s threshold and NMS radius, and
    its descriptors when it has a descriptor head."""
    if model.descriptor_head is None:
        @torch.inference_mode()
        def score(grey: np.ndarray) -> torch.Tensor:
            return model.probability_map(to_tensor(grey, device))[0]

        return ScoreMapDetector(name, score, threshold=detection.threshold, nms_radius=detection.nms_radius, device=device)
    last: dict = {}  # the descriptor map of the image scored last

    @torch.inference_mode()
    def score_and_keep(grey: np.ndarray) -> torch.Tensor:
        probability, descriptors = model.probability_map(to_tensor(grey, device), descriptors=True)
        last.update(grey=grey, descriptors=descriptors[0])
        return probability[0]

    @torch.inference_mode()
    def describe(grey: np.ndarray, xy: np.ndarray) -> np.ndarray:
        if last.get("grey") is not grey:
            score_and_keep(grey)
        points = torch.from_numpy(np.asarray(xy, np.float32)).to(device)
        cells = last["descriptors"].shape[-2:]  # of the image padded to multiples of 8: sample in its frame
        return sample_descriptors(last["descriptors"], points, (8 * cells[0], 8 * cells[1])).cpu().numpy()

    return ScoreMapDetector(name, score_and_keep, threshold=detection.threshold, nms_radius=detection.nms_radius, device=device,
                            describe=describe)


def checkpoint_detector(path: Path, device: str = "cpu", runtime: str = "torch") -> ScoreMapDetector:
    """A student from a checkpoint, run by PyTorch or (``runtime="onnx"``, or a ``.onnx`` file) by ONNX
    Runtime; a checkpoint is exported once to ``<checkpoint>.onnx`` beside it for ONNX Runtime."""
    path = Path(path)
    name = f"student:{path.parent.name}/{path.stem}"
    if path.suffix == ".onnx" or runtime == "onnx":
        from distill.student.onnx_model import export_onnx, onnx_detector

        model_file = path if path.suffix == ".onnx" else path.with_suffix(".onnx")
        if model_file != path and (not model_file.is_file() or model_file.stat().st_mtime < path.stat().st_mtime):
            export_onnx(path, model_file)
        return onnx_detector(model_file, device, name=f"{name} (onnx)")
    model, config = load_student(path, device)
    return student_detector(model, name, config.detection, device)
