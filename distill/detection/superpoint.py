"""The SuperPoint teacher as a detector: its probability map and descriptors, raw or with homographic
adaptation."""
from __future__ import annotations

import numpy as np
import torch

from distill.detection.detector import Describer, ScoreMapDetector, describing, sampled, to_tensor
from teachers.adaptation import homographic_adaptation
from teachers.config import AdaptationConfig, DetectionConfig
from teachers.superpoint import SuperPoint


def superpoint_detector(teacher: SuperPoint, device: str) -> ScoreMapDetector:
    def batch(images: torch.Tensor) -> tuple[torch.Tensor, Describer]:
        out = teacher(images)
        return out.probability, sampled(lambda: out.descriptors)

    def network(grey: np.ndarray) -> tuple[torch.Tensor, Describer]:
        probability, describer = batch(to_tensor(grey, device))
        return probability[0], describer

    score, describe = describing(network, device)
    return ScoreMapDetector("superpoint", score, threshold=DetectionConfig.threshold, device=device, describe=describe, network=batch)


def superpoint_ha_detector(teacher: SuperPoint, device: str, num_homographies: int = 100) -> ScoreMapDetector:
    config = AdaptationConfig(num_homographies=num_homographies)

    def score(grey: np.ndarray) -> torch.Tensor:
        return homographic_adaptation(teacher, to_tensor(grey, device)[0], config, seed=0).heatmap

    return ScoreMapDetector(f"superpoint-ha{num_homographies}", score, threshold=DetectionConfig.threshold, device=device)
