"""A trained student as the teacher of a second labelling round (SuperPoint's own recipe: label,
train, relabel with homographic adaptation of the improved detector): ``distill labels --teacher
student:runs/NAME/last.pt``. A student with a descriptor head also gives descriptors (``--descriptors``):
a smaller student can then learn them from it instead of from SuperPoint."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from distill.student.inference import inference_student
from teachers.superpoint import SuperPointOutput


class StudentTeacher(nn.Module):
    """A student behind the teacher's interface: ``B x 1 x H x W`` grey in [0, 1] -> ``probability``
    ``B x H x W`` (any size) and, when the student has a descriptor head, ``descriptors``
    ``B x D x ceil(H/8) x ceil(W/8)`` (L2-normalised; else ``None``)."""

    def __init__(self, checkpoint: Path, device: str = "cpu") -> None:
        super().__init__()
        self.student, _ = inference_student(checkpoint, device)

    @torch.inference_mode()
    def forward(self, image: torch.Tensor) -> SuperPointOutput:
        if self.student.descriptor_head is None:
            return SuperPointOutput(probability=self.student.probability_map(image), descriptors=None)
        probability, descriptors = self.student.probability_map(image, descriptors=True)
        cells = (-(-image.shape[-2] // 8), -(-image.shape[-1] // 8))  # the cells of the image, not of the student's padding
        return SuperPointOutput(probability=probability, descriptors=descriptors[..., :cells[0], :cells[1]])
