"""Random homographies for homographic adaptation (SuperPoint paper, section 5).

Written by hand: kornia's augmentations sample perspective and affine parameters separately and
not in SuperPoint's parametrisation (a centred patch whose corners are perturbed, then scaled,
translated and rotated). Homographies are returned as ``H`` mapping pixel coordinates of the
original image to pixel coordinates of the warped image (``align_corners=True`` convention:
pixel centres at integer coordinates, the frame spans ``[0, W-1] x [0, H-1]``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from kornia.geometry.linalg import transform_points
from kornia.geometry.transform import get_perspective_transform


@dataclass(frozen=True)
class HomographyConfig:
    patch_ratio: float = 0.85  # side of the centred patch that becomes the warped frame
    scaling_amplitude: float = 0.2  # std of the scale factor around 1 (truncated at 2 std)
    perspective_amplitude: float = 0.2  # std of the corner displacement, as a fraction of the side
    max_angle: float = math.pi / 2  # rotation drawn uniformly in [-max_angle, max_angle]
    translation: bool = True  # shift the patch uniformly within the image (artefacts allowed)

    def as_dict(self) -> dict:
        return asdict(self)


def _truncated_normal(rng: np.random.Generator, std: float, size=None) -> np.ndarray:
    return np.clip(rng.normal(0.0, std, size), -2 * std, 2 * std)


def sample_homography(rng: np.random.Generator, height: int, width: int, config: HomographyConfig) -> np.ndarray:
    """One 3x3 float64 homography original -> warped for a ``height x width`` image.

    In unit coordinates, the warped frame's corners ``[0,1]^2`` come from a patch of the original:
    a centred square of side ``patch_ratio`` whose corners are displaced (perspective), then scaled
    about its centre, shifted and rotated. ``H`` maps the patch to the full warped frame.
    """
    r = config.patch_ratio
    margin = (1 - r) / 2
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)
    patch = margin + r * unit

    dy, dx_left, dx_right = _truncated_normal(rng, config.perspective_amplitude / 2, 3) * r
    patch += np.array([[dx_left, dy], [dx_right, -dy], [-dx_right, dy], [-dx_left, -dy]])

    scale = 1.0 + _truncated_normal(rng, config.scaling_amplitude / 2)
    centre = patch.mean(axis=0)
    patch = (patch - centre) * scale + centre

    if config.translation:
        low, high = patch.min(axis=0), patch.max(axis=0)
        if np.all(high - low <= 1):  # a patch larger than the frame stays centred
            patch += rng.uniform(-low, 1 - high)

    angle = rng.uniform(-config.max_angle, config.max_angle)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    centre = patch.mean(axis=0)
    patch = (patch - centre) @ rotation.T + centre

    to_pixels = np.array([width - 1, height - 1], dtype=np.float64)
    src = torch.from_numpy(patch * to_pixels)[None]
    dst = torch.from_numpy(unit * to_pixels)[None]
    return get_perspective_transform(src, dst)[0].numpy()


def sample_homographies(num: int, height: int, width: int, config: HomographyConfig, seed: int) -> torch.Tensor:
    """``num x 3 x 3`` float32 homographies, the first the identity, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    mats = [np.eye(3)] + [sample_homography(rng, height, width, config) for _ in range(num - 1)]
    return torch.from_numpy(np.stack(mats)[:num]).float()


def warp_points(points_xy: torch.Tensor, homography: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 homography to ``N x 2`` points (x, y)."""
    return transform_points(homography[None].to(points_xy), points_xy[None])[0]
