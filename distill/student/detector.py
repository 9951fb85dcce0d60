"""A trained student as an evaluation/export detector."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from distill.eval.detectors import Detector, to_tensor
from distill.student.model import Student, build_student


def load_student(path: Path, device: str = "cpu"):
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    config = {**state["config"], "backbone_weights": "none"}  # the checkpoint holds the trained weights
    model = build_student(config)
    model.load_state_dict(state["model"])
    return model.eval().to(device), state["config"]


def student_detector(model: Student, name: str, device: str = "cpu") -> Detector:
    """Dense probability of a student (in eval mode); images are padded to the model's size multiple
    and cropped back."""
    multiple = model.size_multiple

    @torch.inference_mode()
    def score(grey: np.ndarray) -> torch.Tensor:
        image = to_tensor(grey, device)
        h, w = image.shape[-2:]
        padded = F.pad(image, (0, (-w) % multiple, 0, (-h) % multiple))
        return model.probability(model(padded))[0, :h, :w]

    return Detector(name, score, threshold=0.0, device=device)


def checkpoint_detector(path: Path, device: str = "cpu") -> Detector:
    model, _ = load_student(path, device)
    return student_detector(model, f"student:{Path(path).parent.name}/{Path(path).stem}", device)
