"""Homographic adaptation (SuperPoint paper, section 5): the teacher's heatmap averaged over many
warped copies of an image, with its per-pixel spread as the teacher's uncertainty."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.morphology import erosion

from teachers.config import AdaptationConfig
from teachers.homographies import sample_homographies, warp_maps, warp_with_validity
from teachers.keypoints import Keypoints, extract_keypoints
from teachers.superpoint import SuperPoint, cell_centres, sample_descriptors


@dataclass
class AdaptationResult:
    heatmap: torch.Tensor  # H x W aggregated probability
    variance: torch.Tensor  # H x W variance across valid views
    count: torch.Tensor  # H x W number of valid views
    keypoints: Keypoints
    descriptors: torch.Tensor | None  # 256 x H/8 x W/8 of the unwarped image, or adapted (None for a teacher without descriptors)


def valid_views(homographies: torch.Tensor, height: int, width: int, margin: int) -> torch.Tensor:
    """``N x 1 x H x W`` masks, in the original frame, of pixels each warped view sees reliably.

    A view sees pixel ``p`` if ``H p`` lands in its frame on real image content at least ``margin``
    pixels from the black border that the warp introduces. Erosion is geodesic, so the frame's own
    edges are not eroded and the identity view is valid everywhere.
    """
    ones = homographies.new_ones(len(homographies), 1, height, width)
    _, content = warp_with_validity(ones, homographies)
    content = content.to(ones.dtype)
    if margin > 0:
        kernel = content.new_ones(2 * margin + 1, 2 * margin + 1)
        content = erosion(content, kernel, border_type="geodesic")
    return warp_with_validity(ones, torch.linalg.inv(homographies), valid=content)[1]


@torch.inference_mode()
def homographic_adaptation(teacher: SuperPoint, image: torch.Tensor, config: AdaptationConfig, seed: int,
                           batch_size: int | None = None, adapt_descriptors: bool = False) -> AdaptationResult:
    """Aggregate the teacher over ``config.num_homographies`` warps of one ``1 x H x W`` image, run
    ``batch_size`` warps per teacher forward (``None``: 1 on the CPU, fastest there; 16 on CUDA).

    For each view ``k`` with homography ``H_k`` (original -> warped): ``p_k = warp(teacher(warp(I, H_k)), H_k^-1)``,
    valid mask ``m_k``. Per pixel, ``count = sum m_k``, ``mean = sum m_k p_k / count``,
    ``variance = sum m_k (p_k - mean)^2 / count``; the heatmap is the mean, or ``max_k m_k p_k``.
    ``adapt_descriptors``: each cell's descriptor is ``normalise(sum_k m_k(c) d_k(H_k c))``, the views' descriptors
    of its centre ``c`` (sampled bilinearly where ``H_k`` takes it) over the views that see it, instead of the
    unwarped image's.
    """
    _, height, width = image.shape
    device = next(teacher.parameters()).device
    image = image.to(device)
    homographies = sample_homographies(config.num_homographies, height, width, config.homographies, seed).to(device)
    total = image.new_zeros(height, width)
    total_sq = image.new_zeros(height, width)
    maximum = image.new_zeros(height, width)
    count = image.new_zeros(height, width)
    descriptors = None
    cells = (-(-height // 8), -(-width // 8))  # the teacher's descriptors cover the image padded to a multiple of 8
    centres = cell_centres(8 * cells[0], 8 * cells[1]).to(device)
    centre_pixels = (centres[0].floor().long().clamp(max=width - 1), centres[1].floor().long().clamp(max=height - 1))
    described = None  # adapt_descriptors: C x 256, the sum of the views' descriptors of each cell centre
    batch_size = batch_size or (16 if device.type == "cuda" else 1)
    for start in range(0, len(homographies), batch_size):
        hs = homographies[start:start + batch_size]
        warped = warp_maps(image[None].expand(len(hs), -1, -1, -1), hs, (height, width))
        out = teacher(warped)
        if descriptors is None and out.descriptors is not None:
            descriptors = out.descriptors[0]  # the first view is the identity
        back = warp_maps(out.probability[:, None], torch.linalg.inv(hs), (height, width))
        valid = valid_views(hs, height, width, config.border_margin).float()
        if adapt_descriptors:
            for view, homography in enumerate(hs):
                seen = homography @ centres
                sampled = sample_descriptors(out.descriptors[view], (seen[:2] / seen[2]).t(), (8 * cells[0], 8 * cells[1]))
                weight = valid[view, 0, centre_pixels[1], centre_pixels[0]][:, None]
                described = sampled * weight if described is None else described + sampled * weight
        back = (back * valid)[:, 0]
        total += back.sum(0)
        total_sq += (back * back).sum(0)
        maximum = torch.maximum(maximum, back.amax(0))
        count += valid[:, 0].sum(0)
    mean = total / count.clamp(min=1)
    variance = (total_sq / count.clamp(min=1) - mean * mean).clamp(min=0)
    heatmap = mean if config.aggregation == "mean" else maximum
    keypoints = extract_keypoints(heatmap[None], config.threshold, config.nms_radius)[0]
    if described is not None:
        descriptors = F.normalize(described, dim=1).t().reshape(-1, *cells)
    return AdaptationResult(heatmap=heatmap, variance=variance, count=count, keypoints=keypoints, descriptors=descriptors)
