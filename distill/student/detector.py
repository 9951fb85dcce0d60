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


def student_detector(model: Student, name: str, detection: DetectionConfig, device: str = "cpu") -> ScoreMapDetector:
    """Dense probability of a student (in eval mode) with ``detection``'s threshold and NMS radius."""

    @torch.inference_mode()
    def score(grey: np.ndarray) -> torch.Tensor:
        return model.probability_map(to_tensor(grey, device))[0]

    return ScoreMapDetector(name, score, threshold=detection.threshold, nms_radius=detection.nms_radius, device=device)


def checkpoint_detector(path: Path, device: str = "cpu") -> ScoreMapDetector:
    model, config = load_student(path, device)
    return student_detector(model, f"student:{Path(path).parent.name}/{Path(path).stem}", config.detection, device)
