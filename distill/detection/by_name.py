"""Detectors by name (``distill.choices.AVAILABLE``), the teacher loaded once for all that need it."""
from __future__ import annotations

from distill.choices import AVAILABLE
from distill.detection.classical import UnknownDetectorError, classical, random_detector
from distill.detection.detector import ScoreMapDetector
from distill.detection.superpoint import superpoint_detector, superpoint_ha_detector
from teachers.superpoint import SuperPoint


def build_detectors(names: list[str], device: str = "cpu", ha_homographies: int = 100,
                    weights_path: str | None = None) -> list[ScoreMapDetector]:
    """Detectors by name (see ``AVAILABLE``); the teacher is loaded once if any needs it."""
    unknown = [n for n in names if n not in AVAILABLE]
    if unknown:
        raise UnknownDetectorError(f"unknown detector(s) {', '.join(unknown)}; available: {', '.join(AVAILABLE)}")
    teacher = SuperPoint.pretrained(weights_path, device) if {"superpoint", "superpoint-ha"} & set(names) else None
    detectors = []
    for name in names:
        if name == "superpoint":
            detectors.append(superpoint_detector(teacher, device))
        elif name == "superpoint-ha":
            detectors.append(superpoint_ha_detector(teacher, device, ha_homographies))
        elif name == "random":
            detectors.append(random_detector())
        else:
            detectors.append(classical(name))
    return detectors
