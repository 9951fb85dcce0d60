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

from distill.student.warped_views import true_assignment, warped_views
from teachers.lightglue import load_lightglue


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


def assignment_nll(log_assignment: torch.Tensor, matches: torch.Tensor, unmatched0: torch.Tensor,
                   unmatched1: torch.Tensor) -> torch.Tensor:
    """LightGlue's balanced negative log-likelihood (module docstring) of a ``B x (M+1) x (N+1)`` log-assignment."""
    def mean(values: torch.Tensor, mask: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
        return -(values * mask).sum(dims) / mask.sum(dims).clamp(min=1)

    positive = mean(log_assignment[:, :-1, :-1], matches.float(), (1, 2))
    negative = mean(log_assignment[:, :-1, -1], unmatched0.float(), (1,)) + mean(log_assignment[:, -1, :-1], unmatched1.float(), (1,))
    return (0.5 * positive + 0.25 * negative).mean()


def lightglue_loss(model: torch.nn.Module, image: torch.Tensor, probability: torch.Tensor, descriptors: torch.Tensor,
                   valid: torch.Tensor, rng: np.random.Generator, top_k: int,
                   match_px: float, unmatched_px: float) -> torch.Tensor:
    """LightGlue's loss (module docstring) of the student's features on a ``B x 1 x H x W`` batch and on a
    random warp of each crop (``warped_views``): ``probability`` ``B x H x W`` and ``descriptors``
    ``B x D x H/8 x W/8`` are the student's on ``image``; ``valid`` its pixels with content."""
    views = warped_views(model, image, probability, descriptors, valid, rng, top_k)
    if views.empty:
        return descriptors.sum() * 0.0
    h, w = image.shape[-2:]
    size = torch.tensor([[w, h]], device=image.device).expand(len(image), 2)
    scores = log_assignment(frozen_lightglue(str(image.device)), views.xy0, views.desc0, views.xy1, views.desc1, size)
    return assignment_nll(scores, *true_assignment(views.xy0, views.xy1, views.homography, match_px, unmatched_px))
