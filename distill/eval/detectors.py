"""Detectors under one interface: a dense score map per image, post-processed alike (max-pool NMS,
threshold, strongest first) by :func:`detect`.

Classical detectors come from OpenCV; their response maps (Harris, Shi-Tomasi) or keypoint
responses written into a map (FAST, SIFT, ORB) follow the SuperPoint paper's evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch

from labels.images import resize_image
from teachers.adaptation import AdaptationConfig, homographic_adaptation
from teachers.homographies import resize_transform, warp_points
from teachers.keypoints import DetectionConfig, extract_keypoints
from teachers.superpoint import SuperPoint, sample_descriptors

CLASSICAL = ["fast", "harris", "shi", "sift", "orb"]
AVAILABLE = ["superpoint", "superpoint-ha", *CLASSICAL, "random"]


class UnknownDetectorError(ValueError):
    """A detector name that is not in ``AVAILABLE``."""


@dataclass
class ScoreMapDetector:
    name: str
    score_map: Callable[[np.ndarray], torch.Tensor]  # grey uint8 H x W -> H x W float scores (0: no point)
    threshold: float = 0.0  # keep scores strictly above it (networks: their DetectionConfig's)
    nms_radius: int = DetectionConfig.nms_radius  # unless the caller (a protocol) sets one for all detectors
    device: str = "cpu"
    # (grey, N x 2 keypoints) -> N x 256 L2-normalised descriptors, for detectors that have them; called
    # right after score_map on the same image, it may reuse that pass
    describe: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None


def nearest_pixels(xy: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the nearest pixel of each ``N x 2`` point (x, y), clipped into ``H x W``."""
    cols = np.clip(np.round(xy[:, 0]).astype(int), 0, shape[1] - 1)
    rows = np.clip(np.round(xy[:, 1]).astype(int), 0, shape[0] - 1)
    return rows, cols


def points_to_map(xy: np.ndarray, scores: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``N x 2`` points (x, y) with positive scores -> ``H x W`` float32 map holding the best score
    at each point's nearest pixel, 0 elsewhere."""
    dense = np.zeros(shape, np.float32)
    np.maximum.at(dense, nearest_pixels(xy, shape), scores)
    return dense


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


def to_tensor(grey: np.ndarray, device: str) -> torch.Tensor:
    """``H x W`` uint8 -> ``1 x 1 x H x W`` float in [0, 1] on ``device``."""
    return torch.from_numpy(grey).to(device).float().div_(255)[None, None]


def describing(network: Callable[[np.ndarray], tuple[torch.Tensor, Callable[[], torch.Tensor]]], device: str):
    """``(score_map, describe)`` of a network that gives, for a grey image, its ``H x W`` probability and
    a function returning its ``D x H'/8 x W'/8`` descriptors of the image padded to multiples of 8 (called
    only when descriptors are asked for, so detection alone skips a student's descriptor branch).
    ``describe`` reuses the pass of the image scored last and samples as SuperPoint does, in the padded
    image's frame."""
    last: dict = {}

    @torch.inference_mode()
    def score(grey: np.ndarray) -> torch.Tensor:
        probability, descriptors = network(grey)
        last.update(grey=grey, descriptors=descriptors)
        return probability

    @torch.inference_mode()
    def describe(grey: np.ndarray, xy: np.ndarray) -> np.ndarray:
        if last.get("grey") is not grey:
            score(grey)
        points = torch.from_numpy(np.asarray(xy, np.float32)).to(device)
        descriptors = last["descriptors"]()
        cells = descriptors.shape[-2:]
        return sample_descriptors(descriptors, points, (8 * cells[0], 8 * cells[1])).cpu().numpy()

    return score, describe


def superpoint_detector(teacher: SuperPoint, device: str) -> ScoreMapDetector:
    def network(grey: np.ndarray) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
        out = teacher(to_tensor(grey, device))
        return out.probability[0], lambda: out.descriptors[0]

    score, describe = describing(network, device)
    return ScoreMapDetector("superpoint", score, threshold=DetectionConfig.threshold, device=device, describe=describe)


def superpoint_ha_detector(teacher: SuperPoint, device: str, num_homographies: int = 100) -> ScoreMapDetector:
    config = AdaptationConfig(num_homographies=num_homographies)

    def score(grey: np.ndarray) -> torch.Tensor:
        return homographic_adaptation(teacher, to_tensor(grey, device)[0], config, seed=0).heatmap

    return ScoreMapDetector(f"superpoint-ha{num_homographies}", score, threshold=DetectionConfig.threshold, device=device)


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


def detect(detector: ScoreMapDetector, grey: np.ndarray, nms_radius: int | None = None, top_k: int | None = None,
           subpixel: bool = False, border: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(xy N x 2, scores N)`` of one grey uint8 image, strongest first, after NMS (``nms_radius``,
    default the detector's own); points closer than ``border`` px to the edge dropped."""
    scores = detector.score_map(grey)
    radius = detector.nms_radius if nms_radius is None else nms_radius
    keypoints = extract_keypoints(scores[None], detector.threshold, radius, top_k, border, subpixel)[0]
    return keypoints.xy.cpu().numpy(), keypoints.scores.cpu().numpy()


def detect_at_size(detector: ScoreMapDetector, grey: np.ndarray, size: tuple[int, int] | None, nms_radius: int | None = None,
                   top_k: int | None = None, subpixel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`detect` on ``grey`` resized to ``size`` (``H x W``; ``None``: as it is), points mapped back
    to ``grey``'s pixels with the pixel-centre convention (:func:`teachers.homographies.resize_transform`)."""
    if size is None or tuple(size) == grey.shape[:2]:
        return detect(detector, grey, nms_radius, top_k, subpixel)
    xy, scores = detect(detector, resize_image(grey, size), nms_radius, top_k, subpixel)
    back = np.linalg.inv(resize_transform(grey.shape[:2], size))
    return warp_points(xy, back).astype(np.float32), scores


def score_map_at(detector: ScoreMapDetector, grey: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """``detector``'s score map of ``grey`` resized to ``size`` (``H x W``; ``None``: as it is), its 3x3
    maximum resized back to ``grey``'s pixels (bilinear): a coarse confidence at every pixel of ``grey``."""
    scores = detector.score_map(grey if size is None else resize_image(grey, size)).numpy().astype(np.float32)
    return cv2.resize(cv2.dilate(scores, np.ones((3, 3), np.uint8)), grey.shape[::-1], interpolation=cv2.INTER_LINEAR)


def describe(detector: ScoreMapDetector, grey: np.ndarray, xy: np.ndarray) -> np.ndarray | None:
    """``N x 256`` descriptors of ``xy`` in ``grey`` (bilinear at the pixel centres, as SuperPoint samples
    them), or ``None`` for a detector without descriptors."""
    return None if detector.describe is None else detector.describe(grey, xy)
