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


@dataclass
class CovisibleMatch:
    """The points of a pair that the protocol scores, and which of them are repeated."""

    keep1: np.ndarray  # n1 x 2: image 1's points whose warp lands in image 2, the top_k best
    keep2: np.ndarray  # n2 x 2: likewise for image 2
    nearest1: np.ndarray  # n1: distance (px, in image 2) to the nearest kept point of image 2
    nearest2: np.ndarray  # n2
    epsilon: float

    @property
    def hit1(self) -> np.ndarray:
        return self.nearest1 <= self.epsilon

    @property
    def hit2(self) -> np.ndarray:
        return self.nearest2 <= self.epsilon


def covisible_match(points1: np.ndarray, points2: np.ndarray, homography: np.ndarray, shape1: tuple[int, int],
                    shape2: tuple[int, int], top_k: int = 300, epsilon: float = 3.0) -> CovisibleMatch:
    """Keep points whose warp lands inside the other image, take the ``top_k`` best of each, and
    measure each one's distance to the nearest kept point of the other image after warping."""
    keep1 = points1[inside(warp_points(points1, homography), shape2)][:top_k]
    keep2 = points2[inside(warp_points(points2, np.linalg.inv(homography)), shape1)][:top_k]
    if len(keep1) == 0 or len(keep2) == 0:
        return CovisibleMatch(keep1, keep2, np.full(len(keep1), np.inf), np.full(len(keep2), np.inf), epsilon)
    distances = np.linalg.norm(warp_points(keep1, homography)[:, None] - keep2[None], axis=2)
    return CovisibleMatch(keep1, keep2, distances.min(axis=1), distances.min(axis=0), epsilon)


def pair_repeatability(points1: np.ndarray, points2: np.ndarray, homography: np.ndarray,
                       shape1: tuple[int, int], shape2: tuple[int, int], top_k: int = 300,
                       epsilon: float = 3.0) -> PairResult:
    """Points (``N x 2``, strongest first) of images 1 and 2 with ``H`` mapping 1 -> 2: a point is
    repeated if the nearest point of the other image is within ``epsilon`` pixels after warping
    (:func:`covisible_match`): ``c1`` from image 1's side, ``c2`` from image 2's."""
    match = covisible_match(points1, points2, homography, shape1, shape2, top_k, epsilon)
    n1, n2 = len(match.keep1), len(match.keep2)
    if n1 == 0 or n2 == 0:
        return PairResult(0.0, float("nan"), n1, n2, 0, 0)
    nearest1, nearest2, hit1, hit2 = match.nearest1, match.nearest2, match.hit1, match.hit2
    c1, c2 = int(hit1.sum()), int(hit2.sum())
    repeated = np.concatenate([nearest1[hit1], nearest2[hit2]])
    error = float(repeated.mean()) if len(repeated) else float("nan")
    return PairResult((c1 + c2) / (n1 + n2), error, n1, n2, c1, c2)
