"""The matcher's view as a training signal: LightGlue (the stock SuperPoint weights, frozen) matches the
student's own keypoints and descriptors on a crop and on a random warp of it, and its negative
log-likelihood of the true assignment (LightGlue's own training loss) trains the student's descriptors.

With ``P`` the ``B x (M+1) x (N+1)`` log-assignment (the last row and column: unmatched), the ground truth
from the known homography ``H``: ``i <-> j`` when they are each other's nearest under ``H`` within
``match_px``; ``i`` unmatched when no point of the other image is within ``unmatched_px`` of ``H(x_i)``
(and alike for ``j`` under ``H^-1``); points in between are not counted. Loss, averaged over the batch:
``0.5 mean_pos(-P_ij) + 0.25 (mean_unm0(-P_i,N) + mean_unm1(-P_M,j))``."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from kornia.feature import LightGlue
from kornia.feature.lightglue import normalize_keypoints
from kornia.geometry.linalg import transform_points

from teachers.config import PairConfig
from teachers.homographies import sample_homography, warp_with_validity
from teachers.keypoints import extract_keypoints
from teachers.lightglue import load_lightglue
from teachers.superpoint import sample_descriptors

BORDER = 4  # px, as LightGlue's SuperPoint and the matching protocol
NMS_RADIUS = 4
WARPS = PairConfig().homography  # the warps of the label stores' LightGlue pairs: perspective 0.2, rotations to 22.5°


@lru_cache(maxsize=2)
def frozen_lightglue(device: str) -> LightGlue:
    """The stock LightGlue (its own weights never train), loaded once per device."""
    return load_lightglue(device=device)


def log_assignment(matcher: LightGlue, xy0: torch.Tensor, desc0: torch.Tensor, xy1: torch.Tensor, desc1: torch.Tensor,
                   size: torch.Tensor) -> torch.Tensor:
    """``B x (M+1) x (N+1)`` log-assignment of kornia's LightGlue for ``B x M x 2`` / ``B x N x 2`` pixel keypoints
    and ``B x M x D`` / ``B x N x D`` descriptors in images of ``B x 2`` sizes (W, H): its forward pass with every
    layer run for every point (no early stop or pruning), minus the ``detach`` with which kornia's ``forward``
    keeps gradients from the descriptors."""
    encoding0, encoding1 = (matcher.posenc(normalize_keypoints(xy, size)) for xy in (xy0, xy1))
    desc0, desc1 = matcher.input_proj(desc0), matcher.input_proj(desc1)
    for layer in matcher.transformers:
        desc0, desc1 = layer(desc0, desc1, encoding0, encoding1)
    return matcher.log_assignment[-1](desc0, desc1)[0]


def true_assignment(xy0: torch.Tensor, xy1: torch.Tensor, homography: torch.Tensor, match_px: float,
                    unmatched_px: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``B x M x 2`` and ``B x N x 2`` keypoints of two images and ``B x 3 x 3`` homographies 0 -> 1 ->
    ``(B x M x N matches, B x M unmatched0, B x N unmatched1)``, booleans (module docstring)."""
    d01 = torch.cdist(transform_points(homography, xy0), xy1)  # B x M x N, in image 1
    d10 = torch.cdist(xy0, transform_points(torch.linalg.inv(homography), xy1))  # in image 0
    dist = torch.maximum(d01, d10)
    nearest0 = dist.argmin(dim=2, keepdim=True)  # B x M x 1
    nearest1 = dist.argmin(dim=1, keepdim=True)  # B x 1 x N
    columns = torch.arange(dist.shape[2], device=dist.device)[None, None]
    rows = torch.arange(dist.shape[1], device=dist.device)[None, :, None]
    matches = (nearest0 == columns) & (nearest1 == rows) & (dist <= match_px)
    return matches, d01.amin(dim=2) > unmatched_px, d10.amin(dim=1) > unmatched_px


def assignment_nll(log_assignment: torch.Tensor, matches: torch.Tensor, unmatched0: torch.Tensor,
                   unmatched1: torch.Tensor) -> torch.Tensor:
    """LightGlue's balanced negative log-likelihood (module docstring) of a ``B x (M+1) x (N+1)`` log-assignment."""
    def mean(values: torch.Tensor, mask: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
        return -(values * mask).sum(dims) / mask.sum(dims).clamp(min=1)

    positive = mean(log_assignment[:, :-1, :-1], matches.float(), (1, 2))
    negative = mean(log_assignment[:, :-1, -1], unmatched0.float(), (1,)) + mean(log_assignment[:, -1, :-1], unmatched1.float(), (1,))
    return (0.5 * positive + 0.25 * negative).mean()


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


def lightglue_loss(model: torch.nn.Module, image: torch.Tensor, probability: torch.Tensor, descriptors: torch.Tensor,
                   valid: torch.Tensor, rng: np.random.Generator, top_k: int,
                   match_px: float, unmatched_px: float) -> torch.Tensor:
    """LightGlue's loss (module docstring) of the student's features on a ``B x 1 x H x W`` batch and on a
    random warp of each crop (``WARPS``): ``probability`` ``B x H x W`` and ``descriptors``
    ``B x D x H/8 x W/8`` are the student's on ``image``; ``valid`` its pixels with content."""
    core = getattr(model, "module", model)
    b, _, h, w = image.shape
    hom = torch.from_numpy(np.stack([sample_homography(rng, h, w, WARPS) for _ in range(b)])).float().to(image.device)
    warped, seen = warp_with_validity(image, hom, valid=valid[:, None])
    logits_b, descriptors_b = model(warped, descriptors=True)
    xy0, desc0 = keypoints_and_descriptors(probability, descriptors, valid, top_k)
    xy1, desc1 = keypoints_and_descriptors(core.probability(logits_b), descriptors_b, seen[:, 0].float(), top_k)
    if xy0.shape[1] == 0 or xy1.shape[1] == 0:
        return descriptors.sum() * 0.0
    size = torch.tensor([[w, h]], device=image.device).expand(b, 2)
    scores = log_assignment(frozen_lightglue(str(image.device)), xy0, desc0, xy1, desc1, size)
    return assignment_nll(scores, *true_assignment(xy0, xy1, hom, match_px, unmatched_px))
