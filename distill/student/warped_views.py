"""Two views of each training crop for the matching terms: the student's strongest points and their
descriptors on the crop and on a random warp of it (the label stores' pair warps), and the true
assignment between them under the known homography ``H``: ``i <-> j`` when they are each other's
nearest under ``H`` within ``match_px``; ``i`` unmatched when no point of the other image is within
``unmatched_px`` of ``H(x_i)`` (and alike for ``j`` under ``H^-1``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from kornia.geometry.linalg import transform_points

from teachers.config import PairConfig
from teachers.homographies import sample_homography, warp_with_validity
from teachers.keypoints import extract_keypoints
from teachers.superpoint import sample_descriptors

BORDER = 4  # px, as LightGlue's SuperPoint and the matching protocol
NMS_RADIUS = 4
WARPS = PairConfig().homography  # the warps of the label stores' LightGlue pairs: perspective 0.2, rotations to 22.5°


@dataclass
class WarpedViews:
    """``B x M x 2`` / ``B x N x 2`` pixel points (x, y) of the crop and of its warp, their ``B x M x D`` /
    ``B x N x D`` descriptors (with gradient) and the ``B x 3 x 3`` homographies crop -> warp."""

    xy0: torch.Tensor
    desc0: torch.Tensor
    xy1: torch.Tensor
    desc1: torch.Tensor
    homography: torch.Tensor

    @property
    def empty(self) -> bool:
        return self.xy0.shape[1] == 0 or self.xy1.shape[1] == 0


def true_assignment(xy0: torch.Tensor, xy1: torch.Tensor, homography: torch.Tensor, match_px: float,
                    unmatched_px: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``B x M x 2`` and ``B x N x 2`` keypoints of two images and ``B x 3 x 3`` homographies 0 -> 1 ->
    ``(B x M x N matches, B x M unmatched0, B x N unmatched1)``, booleans (module docstring)."""
    d01, d10 = reprojection_distances(xy0, xy1, homography)
    dist = torch.maximum(d01, d10)
    nearest0 = dist.argmin(dim=2, keepdim=True)  # B x M x 1
    nearest1 = dist.argmin(dim=1, keepdim=True)  # B x 1 x N
    columns = torch.arange(dist.shape[2], device=dist.device)[None, None]
    rows = torch.arange(dist.shape[1], device=dist.device)[None, :, None]
    matches = (nearest0 == columns) & (nearest1 == rows) & (dist <= match_px)
    return matches, d01.amin(dim=2) > unmatched_px, d10.amin(dim=1) > unmatched_px


def reprojection_distances(xy0: torch.Tensor, xy1: torch.Tensor, homography: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``B x M x N`` distances ``|H x_i - y_j|`` (in image 1) and ``|x_i - H^-1 y_j|`` (in image 0)."""
    return (torch.cdist(transform_points(homography, xy0), xy1),
            torch.cdist(xy0, transform_points(torch.linalg.inv(homography), xy1)))


def keypoints_and_descriptors(probability: torch.Tensor, descriptors: torch.Tensor, valid: torch.Tensor,
                              top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``top_k`` strongest NMS peaks of each ``H x W`` map inside ``valid`` (``B x H x W``), cut to the
    batch's smallest count so the batch stays one tensor, and the descriptors sampled there: ``B x K x 2``
    pixels (x, y) and ``B x K x D``. The points carry no gradient; the descriptors do."""
    masked = probability.detach() * valid
    points = extract_keypoints(masked, 0.0, NMS_RADIUS, top_k, border=BORDER)
    count = min(len(p) for p in points)
    xy = torch.stack([p.xy[:count] for p in points])
    size = (8 * descriptors.shape[-2], 8 * descriptors.shape[-1])
    return xy, torch.stack([sample_descriptors(d, p, size) for d, p in zip(descriptors, xy)])


def warped_views(model: torch.nn.Module, image: torch.Tensor, probability: torch.Tensor, descriptors: torch.Tensor,
                 valid: torch.Tensor, rng: np.random.Generator, top_k: int) -> WarpedViews:
    """The student's ``top_k`` points and descriptors on a ``B x 1 x H x W`` batch (``probability`` ``B x H x W``
    and ``descriptors`` ``B x D x H/8 x W/8``, already computed; ``valid`` its pixels with content) and on a
    random warp of each crop (``WARPS``, one more forward pass)."""
    core = getattr(model, "module", model)
    b, _, h, w = image.shape
    hom = torch.from_numpy(np.stack([sample_homography(rng, h, w, WARPS) for _ in range(b)])).float().to(image.device)
    warped, seen = warp_with_validity(image, hom, valid=valid[:, None])
    logits_b, descriptors_b = model(warped, descriptors=True)
    xy0, desc0 = keypoints_and_descriptors(probability, descriptors, valid, top_k)
    xy1, desc1 = keypoints_and_descriptors(core.probability(logits_b), descriptors_b, seen[:, 0].float(), top_k)
    return WarpedViews(xy0, desc0, xy1, desc1, hom)
