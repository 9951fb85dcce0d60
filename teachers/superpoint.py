"""SuperPoint v1 (DeTone et al. 2018) with the MagicLeap weights.

Written by hand: no maintained library ships the MagicLeap network (kornia has no SuperPoint).
The module is read top to bottom: a VGG-style encoder to 1/8 resolution, a detector head of 65
channels per 8x8 cell (64 positions + a "no point" dustbin) and a 256-d descriptor head.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from teachers import weights
from teachers.config import DetectionConfig
from teachers.keypoints import Keypoints, cell_logits_to_probability, extract_keypoints
from teachers.layout import channels_last


@dataclass
class SuperPointOutput:
    probability: torch.Tensor  # B x H x W, per-pixel keypoint probability in [0, 1]
    descriptors: torch.Tensor  # B x 256 x H/8 x W/8, L2-normalised along channels


class SuperPoint(nn.Module):
    """SuperPoint network; state-dict keys ``conv1a … conv4b, convPa, convPb, convDa, convDb``.

    Input: ``B x 1 x H x W`` grey images in [0, 1]. Sizes that are not multiples of 8 are padded
    with zeros at the bottom and right and the outputs cropped back.
    """

    def __init__(self) -> None:
        super().__init__()
        widths = [(1, 64), (64, 64), (64, 64), (64, 64), (64, 128), (128, 128), (128, 128), (128, 128)]
        names = ["conv1a", "conv1b", "conv2a", "conv2b", "conv3a", "conv3b", "conv4a", "conv4b"]
        for name, (cin, cout) in zip(names, widths):
            setattr(self, name, nn.Conv2d(cin, cout, kernel_size=3, padding=1))
        self.convPa = nn.Conv2d(128, 256, kernel_size=3, padding=1)
        self.convPb = nn.Conv2d(256, 65, kernel_size=1)
        self.convDa = nn.Conv2d(128, 256, kernel_size=3, padding=1)
        self.convDb = nn.Conv2d(256, 256, kernel_size=1)

    @classmethod
    def pretrained(cls, weights_path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> "SuperPoint":
        """The MagicLeap model, located and checksum-verified by :func:`teachers.weights.locate`; on the CPU in
        channels-last memory, the layout oneDNN's convolutions compute in (a third less time at 480x640)."""
        path = weights.locate(weights.SUPERPOINT, weights_path)
        model = cls()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return channels_last(model.eval().requires_grad_(False).to(device), device)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``B x 1 x H x W`` -> ``B x 128 x H/8 x W/8`` shared features."""
        blocks = [("conv1a", "conv1b"), ("conv2a", "conv2b"), ("conv3a", "conv3b"), ("conv4a", "conv4b")]
        for i, (a, b) in enumerate(blocks):
            x = F.relu(getattr(self, b)(F.relu(getattr(self, a)(x))))
            if i < 3:
                x = F.max_pool2d(x, 2)
        return x

    def forward(self, image: torch.Tensor) -> SuperPointOutput:
        if image.ndim != 4 or image.shape[1] != 1:
            raise ValueError(f"SuperPoint expects B x 1 x H x W grey images, got {tuple(image.shape)}")
        h, w = image.shape[-2:]
        pad_h, pad_w = (-h) % 8, (-w) % 8
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h))
        features = self.encode(image)
        logits = self.convPb(F.relu(self.convPa(features)))
        probability = cell_logits_to_probability(logits)[:, :h, :w]
        descriptors = F.normalize(self.convDb(F.relu(self.convDa(features))), dim=1)
        return SuperPointOutput(probability=probability, descriptors=descriptors)

    @torch.inference_mode()
    def detect(self, image: torch.Tensor, threshold: float = DetectionConfig.threshold,
               nms_radius: int = DetectionConfig.nms_radius, top_k: int | None = None, border: int = 4) -> list[Keypoints]:
        """Keypoints of each image in the batch, strongest first."""
        return extract_keypoints(self(image).probability, threshold, nms_radius, top_k, border)


def cell_centres(height: int, width: int) -> torch.Tensor:
    """``3 x (H/8 * W/8)`` homogeneous pixel coordinates ``(x, y, 1)`` of the 8x8 cells' centres, row by row
    (cell ``(i, j)``: ``x = 8 j + 3.5``, ``y = 8 i + 3.5``), the positions a descriptor cell describes."""
    ys, xs = torch.meshgrid(torch.arange(height // 8) * 8 + 3.5, torch.arange(width // 8) * 8 + 3.5, indexing="ij")
    return torch.stack([xs.ravel(), ys.ravel(), torch.ones(xs.numel())])


def sample_descriptors(descriptors: torch.Tensor, keypoints_xy: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
    """Bilinearly sample ``256 x H/8 x W/8`` descriptors at ``N x 2`` pixel positions -> ``N x 256``.

    Pixel centre ``(x, y)`` maps to normalised ``(2x + 1) / W - 1`` (``align_corners=False``). A position that is
    not finite (a point a homography sends to infinity: one on its horizon) samples 0, as any point outside does.
    """
    h, w = image_hw
    grid = keypoints_xy.new_empty(keypoints_xy.shape)
    grid[:, 0] = (2 * keypoints_xy[:, 0] + 1) / w - 1
    grid[:, 1] = (2 * keypoints_xy[:, 1] + 1) / h - 1
    grid = torch.nan_to_num(grid, nan=2.0, posinf=2.0, neginf=-2.0)  # outside [-1, 1]: zero padding
    sampled = F.grid_sample(descriptors[None], grid[None, None], mode="bilinear", align_corners=False)
    return F.normalize(sampled[0, :, 0].t(), dim=1)


def bilinear_cells(keypoints_xy: torch.Tensor, cells_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The cells :func:`sample_descriptors` reads for each of ``N x 2`` pixel positions on a grid of ``H' x W'``
    8x8 cells, and their weights: ``(N x 4 flat indices i W' + j, N x 4 weights)``, so that the sample is
    ``sum_k weight_k * cell[index_k]``. Position ``(x, y)`` lies at ``u = (x + 0.5) / 8 - 0.5`` in cell units (cell
    ``j``'s centre at ``u = j``); the four cells around it weigh ``(1 - a)(1 - b)``, ``a (1 - b)``, ``(1 - a) b``,
    ``a b`` with ``a, b`` the fractional parts. A cell outside the grid, or any cell of a position that is not
    finite, gets weight 0 (and index 0), as grid_sample's zero padding gives."""
    h, w = cells_hw
    u = (keypoints_xy + 0.5) / 8 - 0.5
    finite = torch.isfinite(u).all(dim=1, keepdim=True)
    u = torch.where(finite, u, torch.zeros_like(u))
    corner = u.floor()
    a, b = (u - corner).unbind(1)
    x0, y0 = corner.long().unbind(1)
    xs = torch.stack([x0, x0 + 1, x0, x0 + 1], 1)
    ys = torch.stack([y0, y0, y0 + 1, y0 + 1], 1)
    weights = torch.stack([(1 - a) * (1 - b), a * (1 - b), (1 - a) * b, a * b], 1)
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h) & finite
    return torch.where(inside, ys * w + xs, 0), torch.where(inside, weights, 0.0)
