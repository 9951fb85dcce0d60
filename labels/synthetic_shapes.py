"""Synthetic shapes with exact corner labels (SuperPoint's "synthetic shapes", DeTone et al. 2018).

Written by hand: no maintained package ships this generator. Every image is drawn with OpenCV from
its own generator ``numpy.random.default_rng([seed, index])``, so image ``index`` is the same in
any process, worker or order. Sizes are ``(rows, cols) = (H, W)``; corners are ``(x, y)`` pixels.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import cv2
import numpy as np

PRIMITIVES = ["lines", "polygon", "multiple_polygons", "star", "checkerboard", "stripes", "cube", "ellipses"]


@dataclass(frozen=True)
class ShapesConfig:
    size: tuple[int, int] = (120, 160)  # H x W
    blur: bool = True  # Gaussian blur, sigma in [0, 1.5]
    noise: bool = True  # Gaussian noise, std in [0, 8] grey levels
    primitives: tuple[str, ...] = tuple(PRIMITIVES)

    def as_dict(self) -> dict:
        return {**asdict(self), "size": list(self.size), "primitives": list(self.primitives)}


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth random texture: blurred noise around a random grey level."""
    level = rng.uniform(40, 215)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), max(h, w) / 12)
    texture = texture / (np.abs(texture).max() + 1e-6) * rng.uniform(5, 25)
    return np.clip(level + texture, 0, 255).astype(np.uint8)


def _contrasting(rng: np.random.Generator, background: np.ndarray, minimum: int = 60, others: tuple[int, ...] = (),
                 apart: int = 40) -> int:
    """A grey level at least ``minimum`` from the mean background and ``apart`` from each of ``others``
    (so that every drawn corner is a visible intensity corner)."""
    mean = float(background.mean())
    candidates = [v for v in range(256) if abs(v - mean) >= minimum and all(abs(v - o) >= apart for o in others)]
    return int(rng.choice(candidates))


def _random_point(rng, h, w, margin=4) -> np.ndarray:
    return np.array([rng.integers(margin, w - margin), rng.integers(margin, h - margin)])


def _segments_intersect(p1, p2, q1, q2) -> bool:
    def orient(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
    return orient(p1, p2, q1) != orient(p1, p2, q2) and orient(q1, q2, p1) != orient(q1, q2, p2)


def _min_angle(points: np.ndarray) -> float:
    """Smallest interior angle (degrees) of a closed polygon."""
    angles = []
    for i in range(len(points)):
        a, b, c = points[i - 1], points[i], points[(i + 1) % len(points)]
        u, v = a - b, c - b
        cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-9)
        angles.append(math.degrees(math.acos(np.clip(cos, -1, 1))))
    return min(angles)


def draw_lines(rng, image):
    h, w = image.shape
    corners, segments = [], []
    for _ in range(rng.integers(1, 5)):
        for _attempt in range(20):
            p, q = _random_point(rng, h, w), _random_point(rng, h, w)
            if np.linalg.norm(p - q) > min(h, w) / 4 and not any(_segments_intersect(p, q, a, b) for a, b in segments):
                break
        else:
            continue
        segments.append((p, q))
        cv2.line(image, tuple(int(v) for v in p), tuple(int(v) for v in q), _contrasting(rng, image), int(rng.integers(1, 3)), cv2.LINE_8)
        corners += [p, q]
    return corners


def _convex_polygon(rng, h, w, centre=None, radius=None):
    centre = _random_point(rng, h, w, int(min(h, w) / 5)) if centre is None else centre
    radius = rng.uniform(min(h, w) / 8, min(h, w) / 3.5) if radius is None else radius
    for _attempt in range(30):
        n = int(rng.integers(3, 6))
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        points = np.round(centre + radius * np.column_stack([np.cos(angles), np.sin(angles)])).astype(int)
        points[:, 0] = np.clip(points[:, 0], 2, w - 3)
        points[:, 1] = np.clip(points[:, 1], 2, h - 3)
        if len(np.unique(points, axis=0)) == n and _min_angle(points) > 30 and cv2.isContourConvex(points.reshape(-1, 1, 2).astype(np.int32)):
            return points
    return None


def draw_polygon(rng, image):
    h, w = image.shape
    points = _convex_polygon(rng, h, w)
    if points is None:
        return []
    cv2.fillPoly(image, [points.astype(np.int32)], _contrasting(rng, image), cv2.LINE_8)
    return list(points)


def draw_multiple_polygons(rng, image):
    h, w = image.shape
    occupied = np.zeros((h, w), np.uint8)
    corners = []
    for _ in range(rng.integers(2, 5)):
        points = _convex_polygon(rng, h, w, radius=rng.uniform(min(h, w) / 10, min(h, w) / 5))
        if points is None:
            continue
        mask = np.zeros_like(occupied)
        cv2.fillPoly(mask, [points.astype(np.int32)], 1, cv2.LINE_8)
        if (cv2.dilate(mask, np.ones((5, 5), np.uint8)) & occupied).any():
            continue  # shapes must not touch: a touching pair makes corners that are not labelled
        occupied |= mask
        cv2.fillPoly(image, [points.astype(np.int32)], _contrasting(rng, image), cv2.LINE_8)
        corners += list(points)
    return corners


def draw_star(rng, image):
    h, w = image.shape
    centre = _random_point(rng, h, w, int(min(h, w) / 4))
    colour = _contrasting(rng, image)
    n = int(rng.integers(3, 6))
    for _attempt in range(50):  # rays at least 35 degrees apart, so each end is a distinct corner
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        if np.min(np.diff(np.concatenate([angles, angles[:1] + 2 * math.pi]))) >= math.radians(35):
            break
    else:
        return []
    radius = rng.uniform(min(h, w) / 5, min(h, w) / 2.5, n)
    ends = np.round(centre + radius[:, None] * np.column_stack([np.cos(angles), np.sin(angles)])).astype(int)
    ends[:, 0] = np.clip(ends[:, 0], 2, w - 3)
    ends[:, 1] = np.clip(ends[:, 1], 2, h - 3)
    for end in ends:  # one pixel wide: thicker rays merge into a blob that hides the centre corner
        cv2.line(image, tuple(int(v) for v in centre), tuple(int(v) for v in end), colour, 1, cv2.LINE_8)
    return [centre] + list(ends)


def _warp_grid(rng, h, w, rows, cols):
    """Grid vertices of a ``rows x cols`` board under a random perspective, and the warp."""
    cell = rng.uniform(min(h, w) / 10, min(h, w) / 6)
    grid = np.stack(np.meshgrid(np.arange(cols + 1), np.arange(rows + 1)), -1).reshape(-1, 2) * cell
    size = grid.max(axis=0)
    offset = np.array([w, h]) / 2 - size / 2
    src = np.float32([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]]) + offset.astype(np.float32)
    jitter = rng.uniform(-0.12, 0.12, (4, 2)) * size
    dst = (src + jitter).astype(np.float32)
    warp = cv2.getPerspectiveTransform(src, dst)
    return grid + offset, warp


def _transform(points, warp):
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), warp).reshape(-1, 2)


def draw_checkerboard(rng, image):
    h, w = image.shape
    rows, cols = int(rng.integers(3, 6)), int(rng.integers(3, 7))
    grid, warp = _warp_grid(rng, h, w, rows, cols)
    first = _contrasting(rng, image)
    dark, light = sorted([first, _contrasting(rng, image, others=(first,))])
    vertices = _transform(grid, warp).reshape(rows + 1, cols + 1, 2)
    for r in range(rows):
        for c in range(cols):
            quad = np.array([vertices[r, c], vertices[r, c + 1], vertices[r + 1, c + 1], vertices[r + 1, c]])
            cv2.fillConvexPoly(image, np.round(quad).astype(np.int32), light if (r + c) % 2 else dark, cv2.LINE_8)
    return [p for p in np.round(vertices.reshape(-1, 2)).astype(int)]


def draw_stripes(rng, image):
    h, w = image.shape
    count = int(rng.integers(3, 7))
    grid, warp = _warp_grid(rng, h, w, 1, 2 * count - 1)
    vertices = np.round(_transform(grid, warp)).astype(int).reshape(2, 2 * count, 2)
    colour = _contrasting(rng, image)
    corners = []
    for i in range(0, 2 * count - 1, 2):  # every other column of the board is a stripe
        quad = np.array([vertices[0, i], vertices[0, i + 1], vertices[1, i + 1], vertices[1, i]])
        cv2.fillConvexPoly(image, quad.astype(np.int32), colour, cv2.LINE_8)
        corners += list(quad)
    return corners


def draw_cube(rng, image):
    h, w = image.shape
    size = rng.uniform(min(h, w) / 5, min(h, w) / 3)
    centre = np.array([w / 2, h / 2]) + rng.uniform(-0.15, 0.15, 2) * np.array([w, h])
    a, b = rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.0)  # rotations about the vertical and horizontal axes
    cube = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rotated = cube @ (rx @ ry).T
    projected = np.round(centre + size / 2 * rotated[:, :2]).astype(int)
    faces = [[0, 1, 3, 2], [4, 5, 7, 6], [0, 1, 5, 4], [2, 3, 7, 6], [0, 2, 6, 4], [1, 3, 7, 5]]
    visible = []
    for face in faces:
        normal = rotated[face].mean(axis=0)
        if normal[2] < -1e-6:  # facing the camera (looking along +z)
            visible.append(face)
    shades: list[int] = []
    for _ in visible:
        shades.append(_contrasting(rng, image, others=tuple(shades), apart=30))
    for face, shade in zip(visible, shades):
        cv2.fillConvexPoly(image, projected[face].astype(np.int32), shade, cv2.LINE_8)
    seen = sorted({v for face in visible for v in face})
    return [projected[v] for v in seen]


def draw_ellipses(rng, image):
    h, w = image.shape
    for _ in range(rng.integers(1, 5)):
        centre = tuple(int(v) for v in _random_point(rng, h, w, int(min(h, w) / 6)))
        axes = (int(rng.uniform(min(h, w) / 12, min(h, w) / 5)), int(rng.uniform(min(h, w) / 12, min(h, w) / 5)))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, _contrasting(rng, image), -1, cv2.LINE_8)
    return []


DRAW: dict[str, Callable] = {
    "lines": draw_lines, "polygon": draw_polygon, "multiple_polygons": draw_multiple_polygons, "star": draw_star,
    "checkerboard": draw_checkerboard, "stripes": draw_stripes, "cube": draw_cube, "ellipses": draw_ellipses,
}


def generate(index: int, seed: int = 0, config: ShapesConfig = ShapesConfig(), primitive: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Image ``index`` of the set drawn from ``seed``: ``(H x W uint8, N x 2 float32 corners (x, y), primitive)``.

    The primitive cycles through ``config.primitives`` with the index unless given. Corners are
    the exact vertices passed to the drawing calls; those outside the frame are dropped.
    """
    rng = np.random.default_rng([seed, index])
    h, w = config.size
    primitive = primitive or config.primitives[index % len(config.primitives)]
    image = _background(rng, h, w)
    corners = np.array(DRAW[primitive](rng, image), np.float32).reshape(-1, 2)
    inside = (corners[:, 0] >= 0) & (corners[:, 0] <= w - 1) & (corners[:, 1] >= 0) & (corners[:, 1] <= h - 1)
    corners = np.unique(corners[inside], axis=0)
    if config.blur:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.1, 1.5))
    if config.noise:
        image = np.clip(image + rng.normal(0, rng.uniform(0, 8), image.shape), 0, 255).astype(np.uint8)
    return image, corners, primitive
