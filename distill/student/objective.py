"""The training objective: the weighted sum of the losses of ``losses.py`` on one batch, as the
training configuration asks (``LossesConfig``, ``PairLossConfig``)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from distill.student import losses as L
from distill.student.config import FocalConfig, PairLossConfig, TrainConfig
from distill.student.data import AUGMENT_HOMOGRAPHY
from distill.student.matcher_loss import lightglue_loss
from distill.student.metric_loss import metric_loss
from distill.student.model import Student
from distill.student.warped_views import keypoints_and_descriptors
from teachers.homographies import sample_homography, warp_maps, warp_with_validity
from teachers.superpoint import sample_descriptors


def pixel_logits(core: Student, logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel keypoint logits ``B x H x W`` of either head (for the cell head, ``logit`` of its
    depth-to-space probability), so the per-pixel losses apply to both heads alike."""
    return logits if core.head_type == "map" else torch.logit(core.probability(logits), eps=1e-6)


def whole_pixel_shift(rng: np.random.Generator, most: int) -> np.ndarray:
    """A 3x3 translation by whole pixels ``(dx, dy)``, each drawn uniformly from ``[-most, most]``: warping by it moves
    the content and resamples nothing, so the consistency term asks the student only to move its map with the content
    (up to 7 px: every position within its 8x8 cells)."""
    dx, dy = rng.integers(-most, most + 1, size=2)
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], dtype=np.float64)


def compute_losses(model: torch.nn.Module, batch: dict, config: TrainConfig, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Weighted loss terms of one batch; ``total`` is their sum. Focal, attentive and Huber act on the
    per-pixel map of either head; KL is spatial for the map head and per 8x8 cell for the cell head.
    ``model`` may be wrapped in DistributedDataParallel; ``rng`` draws the consistency, LightGlue and metric warps."""
    w = config.losses
    core = getattr(model, "module", model)  # attributes of the student under DistributedDataParallel
    image, heat, var, valid, mask = batch["image"], batch["heatmap"], batch["variance"], batch["valid"], batch["mask"]
    terms: dict[str, torch.Tensor] = {}
    valid_cells = (F.avg_pool2d(valid[:, None], 8)[:, 0] > 0.99).float()  # 8x8 cells wholly valid (KL, descriptors)
    if "descriptors" in batch:  # the descriptor head learns from the teacher's descriptors of the same crop
        logits, described = model(image, descriptors=True)
        terms["descriptor"] = w.descriptor.weight * L.descriptor_loss(described, batch["descriptors"], valid_cells)
        if w.descriptor.at_points:  # and at the student's own points, where matching samples its descriptors
            xy, at_points = keypoints_and_descriptors(core.probability(logits), described, valid, w.descriptor.top_k)
            teacher = torch.stack([sample_descriptors(t, p, image.shape[-2:]) for t, p in zip(batch["descriptors"], xy)])
            terms["descriptor_points"] = w.descriptor.at_points * L.sampled_descriptor_loss(at_points, teacher)
        if w.lightglue.weight:  # and LightGlue's loss on the student's matches of the crop and of a warp of it
            terms["lightglue"] = w.lightglue.weight * lightglue_loss(
                model, image, core.probability(logits), described, valid, rng, w.lightglue.top_k, w.lightglue.match_px,
                w.lightglue.unmatched_px)
        if w.metric.weight:  # and the metric term on the same two views
            terms["metric"] = w.metric.weight * metric_loss(
                model, image, core.probability(logits), described, valid, rng, w.metric.top_k, w.metric.match_px,
                w.metric.negative_px, w.metric.margin)
    else:
        logits = model(image)
    pixels = pixel_logits(core, logits)
    if w.focal.weight:
        target = L.gaussian_targets(mask, w.focal.sigma) if w.focal.smoothing else mask
        terms["focal"] = w.focal.weight * L.focal_loss(pixels, target, valid, w.focal.alpha, w.focal.gamma)
    if w.kl.weight and core.head_type == "map":
        terms["kl"] = w.kl.weight * L.kl_spatial_loss(pixels, heat, valid, w.kl.temperature)
    if w.kl.weight and core.head_type == "cell":
        terms["kl"] = w.kl.weight * L.kl_cell_loss(logits, L.teacher_cells(heat), valid_cells, w.kl.temperature, w.kl.focal_gamma)
    if w.attentive.weight:
        terms["attentive"] = w.attentive.weight * L.attentive_loss(pixels, heat, var, valid, w.attentive.eps, w.attentive.robust,
                                                                   log_floor=w.attentive.log_floor)
    if w.huber.weight:
        terms["huber"] = w.huber.weight * L.huber_loss(pixels, L.gaussian_targets(mask, w.huber.sigma), valid, w.huber.delta)
    if w.consistency.weight or w.repeatability.weight:  # one random warp of each crop, one more forward pass
        h, wd = image.shape[-2:]
        hom = torch.from_numpy(np.stack([whole_pixel_shift(rng, w.consistency.shift) if w.consistency.shift else
                                         sample_homography(rng, h, wd, AUGMENT_HOMOGRAPHY) for _ in range(len(image))])).float().to(image.device)
        warped = warp_maps(image, hom, (h, wd))
        back, seen = warp_with_validity(core.probability(model(warped))[:, None], torch.linalg.inv(hom))
        p_a, p_b, both = core.probability(logits), back[:, 0], valid * seen[:, 0]
        if w.consistency.weight:
            terms["consistency"] = w.consistency.weight * L.consistency_loss(p_a, p_b, both, w.consistency.delta,
                                                                             w.consistency.log_floor)
        if w.repeatability.weight:
            terms["repeatability"] = w.repeatability.weight * L.repeatability_loss(p_a, p_b, both, w.repeatability.patch,
                                                                                  w.repeatability.peaky)
    if "image_b" in batch:
        terms.update(pair_losses(model, pixels, batch, config.pair, w.focal))
    if not terms:
        raise ValueError("every loss has weight 0")
    terms["total"] = sum(terms.values())
    return terms


def pair_losses(model: torch.nn.Module, logits_a: torch.Tensor, batch: dict, weights: PairLossConfig,
                focal: FocalConfig) -> dict[str, torch.Tensor]:
    """Pair mode: Huber of each image's map to the blobs at its consistent LightGlue matches, the focal
    loss of each image's map against those matched points alone (``focal``'s alpha and gamma), and the
    consistency of image ``a``'s map with ``b``'s map warped back by the known homography.
    ``logits_a``: per-pixel logits of image ``a`` (:func:`pixel_logits`)."""
    core = getattr(model, "module", model)
    logits_b = pixel_logits(core, model(batch["image_b"]))
    terms = {}
    if weights.huber:
        terms["pair_huber"] = weights.huber * 0.5 * (L.huber_loss(logits_a, batch["target_a"], batch["valid"])
                                                     + L.huber_loss(logits_b, batch["target_b"], batch["valid_b"]))
    if weights.focal:
        terms["pair_focal"] = weights.focal * 0.5 * (
            L.focal_loss(logits_a, batch["matched_a"], batch["valid"], focal.alpha, focal.gamma)
            + L.focal_loss(logits_b, batch["matched_b"], batch["valid_b"], focal.alpha, focal.gamma))
    if weights.consistency:
        back, seen = warp_with_validity(torch.sigmoid(logits_b)[:, None], torch.linalg.inv(batch["homography"]),
                                        valid=batch["valid_b"][:, None])
        terms["pair_consistency"] = weights.consistency * L.consistency_loss(torch.sigmoid(logits_a), back[:, 0],
                                                                             batch["valid"] * seen[:, 0])
    return terms
