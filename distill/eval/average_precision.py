"""Detection average precision against exact ground-truth corners (SuperPoint paper, synthetic
shapes table): detections of all images pooled and ranked by score."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DetectionResult:
    average_precision: float
    localisation_error: float  # mean distance of true positives (px)
    precision: np.ndarray  # along the ranking
    recall: np.ndarray


def match_image(xy: np.ndarray, truth: np.ndarray, epsilon: float) -> np.ndarray:
    """Distances of each detection (strongest first) to the ground-truth corner it claims, ``inf`` for
    a false positive. A corner is claimed at most once, by the strongest detection within ``epsilon``."""
    distances = np.full(len(xy), np.inf)
    if len(truth) == 0 or len(xy) == 0:
        return distances
    free = np.ones(len(truth), bool)
    all_d = np.linalg.norm(xy[:, None] - truth[None], axis=2)
    for i in range(len(xy)):
        candidates = np.where(free & (all_d[i] <= epsilon))[0]
        if len(candidates):
            j = candidates[np.argmin(all_d[i, candidates])]
            free[j] = False
            distances[i] = all_d[i, j]
    return distances


def average_precision(detections: list[tuple[np.ndarray, np.ndarray]], truths: list[np.ndarray],
                      epsilon: float = 3.0) -> DetectionResult:
    """``detections``: per image ``(xy N x 2, scores N)`` strongest first; ``truths``: per image ``M x 2``.
    AP = sum over ranks of precision x recall increment (precision made monotone, as in PASCAL VOC)."""
    scores, distances = [], []
    for (xy, s), truth in zip(detections, truths):
        scores.append(s)
        distances.append(match_image(xy, truth, epsilon))
    scores, distances = np.concatenate(scores), np.concatenate(distances)
    total = sum(len(t) for t in truths)
    order = np.argsort(-scores, kind="stable")
    hit = np.isfinite(distances[order])
    tp = np.cumsum(hit)
    precision = tp / np.arange(1, len(hit) + 1)
    recall = tp / max(total, 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    ap = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope)) if len(hit) else 0.0
    error = float(distances[np.isfinite(distances)].mean()) if hit.any() else float("nan")
    return DetectionResult(ap, error, precision, recall)
