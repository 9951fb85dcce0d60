"""Validation during training: the student's repeatability (standard protocol: 300 points, epsilon
3 px), needing no teacher, on HPatches-style sequences or on held-out store images and seeded warps."""
from __future__ import annotations

import math

import numpy as np
import torch

from distill.eval.protocol import Protocol, evaluate
from distill.eval.repeatability import pair_repeatability
from distill.eval.sequences import Sequence
from distill.student.data import LabelDataset
from distill.student.detector import student_detector
from distill.student.model import Student
from teachers.homographies import HomographyConfig, sample_homography, warp_maps
from teachers.config import DetectionConfig

# the warps of held-out images: a constant of their own, so that changing the training augmentation
# never changes the metric that picks best.pt
VALIDATION_HOMOGRAPHY = HomographyConfig(patch_ratio=0.9, scaling_amplitude=0.15, perspective_amplitude=0.1,
                                         max_angle=math.pi / 12, translation=True)
VALIDATION_SEED = 1234


@torch.inference_mode()
def validation_repeatability(model: Student, dataset: LabelDataset, detection: DetectionConfig, device: str,
                             hpatches: list[Sequence] | None = None) -> float:
    """Mean repeatability of the student: on ``hpatches`` sequences when given (``--val-hpatches``),
    else between each held-out crop of the store and a seeded warp of it."""
    model.eval()
    try:
        if hpatches is not None:
            protocol = Protocol(nms_radius=detection.nms_radius)
            return evaluate([student_detector(model, "validation", detection, device)], hpatches, protocol, progress=False)[0].repeatability()
        return held_out_repeatability(model, dataset, detection, device)
    finally:
        model.train()


def held_out_repeatability(model: Student, dataset: LabelDataset, detection: DetectionConfig, device: str) -> float:
    """Mean repeatability between each held-out crop and a seeded warp of it."""
    scores = []
    rng = np.random.default_rng(VALIDATION_SEED)
    for i in range(len(dataset)):
        image = dataset[i]["image"][None].to(device)
        h, w = image.shape[-2:]
        hom = torch.from_numpy(sample_homography(rng, h, w, VALIDATION_HOMOGRAPHY)).float()
        warped = warp_maps(image, hom[None].to(device), (h, w))
        k1, k2 = (model.detect(x, detection)[0] for x in (image, warped))
        scores.append(pair_repeatability(k1.xy.cpu().numpy(), k2.xy.cpu().numpy(), hom.double().numpy(), (h, w), (h, w)).repeatability)
    return float(np.mean(scores))
