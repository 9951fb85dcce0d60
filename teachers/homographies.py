"""Homographies: random sampling for homographic adaptation (SuperPoint paper, section 5), warping
points and maps, and the transform of a resize.

Convention (docs/api.md, "Pixel convention"): pixel centres at integer coordinates, the frame spans
``[0, W-1] x [0, H-1]``; a homography ``H`` maps pixels of one image to pixels of another. kornia's
``warp_perspective(..., align_corners=True)`` follows it; :func:`warp_maps` wraps it for every warp of an image or a map.

The sampler is written by hand: kornia's augmentations sample perspective and affine parameters
separately and not in SuperPoint's parametrisation (a centred patch whose corners are perturbed,
then scaled, translated and rotated).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from kornia.geometry.linalg import transform_points
from kornia.geometry.transform import get_perspective_transform, warp_perspective

from teachers.config import HomographyConfig


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


def warp_points(points_xy, homography):
    """``N x 2`` points (x, y) through a 3x3 homography; NumPy in, NumPy out, or torch in, torch out.

    kornia's ``transform_points`` divides by the third coordinate only where it is not ~0 (OpenCV's rule).
    """
    if isinstance(points_xy, np.ndarray):
        points = torch.from_numpy(np.asarray(points_xy, np.float64).reshape(-1, 2))
        return warp_points(points, torch.from_numpy(np.asarray(homography, np.float64))).numpy()
    return transform_points(homography[None].to(points_xy), points_xy[None])[0]


def warp_maps(maps: torch.Tensor, homographies: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """kornia's ``warp_perspective(maps, homographies, size, align_corners=True)`` with every NaN set to 0, the value
    it gives any other pixel that comes from outside the source. A strong perspective warp has a horizon (``h_31 x +
    h_32 y + h_33 = 0`` of the inverse): pixels on it come from infinity, and kornia returns NaN at some of them,
    which one convolution spreads to a neighbourhood and one product with a 0 mask keeps."""
    return torch.nan_to_num(warp_perspective(maps, homographies, size, mode=mode, align_corners=True), nan=0.0)


def warp_with_validity(maps: torch.Tensor, homographies: torch.Tensor, valid: torch.Tensor | None = None,
                       mode: str = "bilinear") -> tuple[torch.Tensor, torch.Tensor]:
    """Warp ``B x C x H x W`` maps by ``B x 3 x 3`` homographies into a frame of the same size, with the
    ``B x 1 x H x W`` boolean mask of output pixels that came from inside the source (and from its
    ``valid`` pixels when given; nearest sampling, so the mask's edge stays sharp)."""
    size = maps.shape[-2:]
    warped = warp_maps(maps, homographies, size, mode)
    source = valid.to(maps.dtype) if valid is not None else maps.new_ones(maps.shape[0], 1, *size)
    seen = warp_maps(source, homographies, size, "nearest") > 0.5
    return warped, seen


def resize_transform(from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """3x3 map from pixels of an ``H x W`` image to pixels of its resize to ``to_size`` (both ``H x W``).

    With pixel centres at integer coordinates (OpenCV's and ``align_corners=False`` resizing),
    ``x' = s (x + 0.5) - 0.5`` with ``s = W' / W``: a plain ``diag(s)`` is off by ``(s - 1) / 2`` px.
    A homography ``H_1_k`` of resized images becomes ``R_k H R_1^-1``.
    """
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
