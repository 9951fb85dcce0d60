"""A metric term on warped pairs: the student's descriptors of a crop and of a random warp of it
(``distill.student.warped_views``), matching ones pulled together and the hardest non-matching ones
pushed apart, as HardNet's triplet margin loss does.

For each true match ``(i, j)`` (mutual nearest under the homography within ``match_px``), with ``d`` the
Euclidean distance of L2-normalised descriptors and the negatives the points of either image farther
than ``negative_px`` from where the other point lands:
``loss = mean_(i,j) max(0, margin + d(a_i, b_j) - min(min_k d(a_i, b_k), min_k d(a_k, b_j)))``."""
from __future__ import annotations

import numpy as np
import torch

from distill.student.warped_views import reprojection_distances, true_assignment, warped_views


def hardest_negative_triplet(desc0: torch.Tensor, desc1: torch.Tensor, matches: torch.Tensor, negative0: torch.Tensor,
                             negative1: torch.Tensor, margin: float) -> torch.Tensor:
    """The module docstring's loss for ``B x M x D`` / ``B x N x D`` descriptors, ``B x M x N`` boolean
    ``matches`` and ``B x M x N`` boolean negatives: ``negative0[i, k]`` whether ``b_k`` may serve as the
    negative of ``a_i``, ``negative1[k, j]`` whether ``a_k`` may serve as the negative of ``b_j``.
    0 when there is no match."""
    distance = torch.cdist(desc0, desc1)  # B x M x N
    far = torch.finfo(distance.dtype).max
    hardest0 = distance.masked_fill(~negative0, far).amin(dim=2, keepdim=True)  # B x M x 1: for a_i, among the b_k
    hardest1 = distance.masked_fill(~negative1, far).amin(dim=1, keepdim=True)  # B x 1 x N: for b_j, among the a_k
    triplet = (margin + distance - torch.minimum(hardest0, hardest1)).clamp(min=0)
    return (triplet * matches).sum() / matches.sum().clamp(min=1)


def metric_loss(model: torch.nn.Module, image: torch.Tensor, probability: torch.Tensor, descriptors: torch.Tensor,
                valid: torch.Tensor, rng: np.random.Generator, top_k: int, match_px: float, negative_px: float,
                margin: float) -> torch.Tensor:
    """The metric term (module docstring) of the student's features on a ``B x 1 x H x W`` batch and on a
    random warp of each crop: ``probability`` ``B x H x W`` and ``descriptors`` ``B x D x H/8 x W/8`` are the
    student's on ``image``; ``valid`` its pixels with content."""
    views = warped_views(model, image, probability, descriptors, valid, rng, top_k)
    if views.empty:
        return descriptors.sum() * 0.0
    matches, _, _ = true_assignment(views.xy0, views.xy1, views.homography, match_px, negative_px)
    d01, d10 = reprojection_distances(views.xy0, views.xy1, views.homography)
    return hardest_negative_triplet(views.desc0, views.desc1, matches, d01 > negative_px, d10 > negative_px, margin)
