"""A trained student as the teacher of a second labelling round (SuperPoint's own recipe: label,
train, relabel with homographic adaptation of the improved detector): ``distill labels --teacher
student:runs/NAME/last.pt``."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from distill.student.inference import inference_student
from teachers.superpoint import SuperPointOutput


class StudentTeacher(nn.Module):
    """A student behind the teacher's interface: ``B x 1 x H x W`` grey in [0, 1] -> ``probability``
    ``B x H x W`` (any size; no descriptors)."""

    def __init__(self, checkpoint: Path, device: str = "cpu") -> None:
        super().__init__()
        self.student, _ = inference_student(checkpoint, device)

    @torch.inference_mode()
    def forward(self, image: torch.Tensor) -> SuperPointOutput:
        return SuperPointOutput(probability=self.student.probability_map(image), descriptors=None)
