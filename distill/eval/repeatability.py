"""Repeatability and localisation error of one image pair (SuperPoint paper, Table 3 protocol)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teachers.homographies import warp_points


def inside(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    return (points[:, 0] >= 0) & (points[:, 0] <= w - 1) & (points[:, 1] >= 0) & (points[:, 1] <= h - 1)


@dataclass
class PairResult:
    repeatability: float  # (c1 + c2) / (n1 + n2)
    localisation_error: float  # mean distance of the repeated points, NaN if none
    n1: int
    n2: int
    c1: int
    c2: int


def pair_repeatability(points1: np.ndarray, points2: np.ndarray, homography: np.ndarray,
                       shape1: tuple[int, int], shape2: tuple[int, int], top_k: int = 300,
                       epsilon: float = 3.0) -> PairResult:
    """Points (``N x 2``, strongest first) of images 1 and 2 with ``H`` mapping 1 -> 2.

    Keep points whose warp lands inside the other image, take the ``top_k`` best of each, and count
    a point as repeated if the nearest point of the other image is within ``epsilon`` pixels after
    warping: ``c1`` from image 1's side, ``c2`` from image 2's.
    """
    keep1 = points1[inside(warp_points(points1, homography), shape2)][:top_k]
    keep2 = points2[inside(warp_points(points2, np.linalg.inv(homography)), shape1)][:top_k]
    n1, n2 = len(keep1), len(keep2)
    if n1 == 0 or n2 == 0:
        return PairResult(0.0, float("nan"), n1, n2, 0, 0)
    distances = np.linalg.norm(warp_points(keep1, homography)[:, None] - keep2[None], axis=2)
    nearest1, nearest2 = distances.min(axis=1), distances.min(axis=0)
    hit1, hit2 = nearest1 <= epsilon, nearest2 <= epsilon
    c1, c2 = int(hit1.sum()), int(hit2.sum())
    repeated = np.concatenate([nearest1[hit1], nearest2[hit2]])
    error = float(repeated.mean()) if len(repeated) else float("nan")
    return PairResult((c1 + c2) / (n1 + n2), error, n1, n2, c1, c2)
