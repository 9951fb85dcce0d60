"""Points and dense maps: the nearest pixel of a point, points written into a score map."""
from __future__ import annotations

import numpy as np


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
