"""OpenCV's detectors as score maps: the response maps of Harris and Shi-Tomasi, and the keypoint
responses of FAST, SIFT and ORB written into a map, as the SuperPoint paper's evaluation takes them;
and random scores, the floor of every table."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from distill.choices import CLASSICAL
from distill.detection.detector import ScoreMapDetector
from distill.detection.maps import points_to_map


class UnknownDetectorError(ValueError):
    """A detector name that is not in ``distill.choices.AVAILABLE``."""


def _keypoints_to_map(keypoints, shape: tuple[int, int]) -> torch.Tensor:
    """OpenCV keypoints -> score map of their responses, shifted to be positive."""
    if not keypoints:
        return torch.zeros(shape)
    xy = np.array([k.pt for k in keypoints])
    response = np.array([k.response for k in keypoints], np.float32)
    return torch.from_numpy(points_to_map(xy, response - response.min() + 1e-6, shape))


def classical(name: str) -> ScoreMapDetector:
    if name == "harris":
        return ScoreMapDetector(name, lambda g: torch.from_numpy(cv2.cornerHarris(g.astype(np.float32), 4, 3, 0.04)).clamp(min=0))
    if name == "shi":
        return ScoreMapDetector(name, lambda g: torch.from_numpy(cv2.cornerMinEigenVal(g.astype(np.float32), 4, 3)))
    if name == "fast":
        fast = cv2.FastFeatureDetector_create(10)
        return ScoreMapDetector(name, lambda g: _keypoints_to_map(fast.detect(g), g.shape))
    if name == "sift":
        sift = cv2.SIFT_create()
        return ScoreMapDetector(name, lambda g: _keypoints_to_map(sift.detect(g), g.shape))
    if name == "orb":
        orb = cv2.ORB_create(nfeatures=2000)
        return ScoreMapDetector(name, lambda g: _keypoints_to_map(orb.detect(g), g.shape))
    raise UnknownDetectorError(f"unknown classical detector {name!r}; available: {', '.join(CLASSICAL)}")


def random_detector(seed: int = 0) -> ScoreMapDetector:
    rng = np.random.default_rng(seed)
    return ScoreMapDetector("random", lambda g: torch.from_numpy(rng.random(g.shape, dtype=np.float32)))
