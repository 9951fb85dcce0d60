"""Distillation losses (one function each; weights in ``LossesConfig``, composed in ``objective.py``).
``s``: student logits, ``t``: teacher heatmap from the
store, ``sigma2``: the teacher's homographic-adaptation variance, ``valid``: pixels to count.
Every loss returns a scalar mean over the valid pixels (or cells) of the batch."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss


def _masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return (values * valid).sum() / valid.sum().clamp(min=1)


def gaussian_targets(mask: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Keypoint mask -> Gaussian blobs (``exp(-d^2 / 2 sigma^2)`` around each point, max over points)
    scaled into [0.1, 0.9]: label smoothing for the focal and Huber losses."""
    radius = max(1, int(round(3 * sigma)))
    coords = torch.arange(-radius, radius + 1, dtype=mask.dtype, device=mask.device)
    kernel = torch.exp(-(coords[:, None] ** 2 + coords[None] ** 2) / (2 * sigma ** 2))
    # max-of-blobs = grey dilation of the mask by the Gaussian kernel
    padded = F.pad(mask[:, None], (radius,) * 4)
    patches = F.unfold(padded, 2 * radius + 1)  # B x k*k x H*W
    blobs = (patches * kernel.flatten()[None, :, None]).amax(dim=1).view_as(mask)
    return 0.1 + 0.8 * blobs


def focal_loss(s: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al.): ``-alpha_t (1 - p_t)^gamma log p_t`` per pixel, ``B x H x W``;
    ``target`` a {0, 1} keypoint mask or soft targets in [0, 1]."""
    return _masked_mean(sigmoid_focal_loss(s, target, alpha=alpha, gamma=gamma, reduction="none"), valid)


def kl_cell_loss(s_cells: torch.Tensor, t_cells: torch.Tensor, valid_cells: torch.Tensor, temperature: float = 1.0,
                 focal_gamma: float = 0.0) -> torch.Tensor:
    """``KL(p_T || p_S) T^2`` per cell over 65-way distributions, ``B x 65 x Hc x Wc`` logits of the student
    and probabilities of the teacher (softened by ``p^(1/T)`` renormalised). With ``focal_gamma > 0``
    (MQD-style), each cell is weighted by ``(1 - sum_c p_T sigma_S)^gamma``: cells the student gets wrong
    count more."""
    log_s = F.log_softmax(s_cells / temperature, dim=1)
    p_t = t_cells.clamp(min=1e-8) ** (1.0 / temperature)
    p_t = p_t / p_t.sum(dim=1, keepdim=True)
    kl = (p_t * (p_t.log() - log_s)).sum(dim=1) * temperature ** 2
    if focal_gamma > 0:
        agreement = (p_t * log_s.exp()).sum(dim=1)
        kl = kl * (1 - agreement).clamp(min=0) ** focal_gamma
    return _masked_mean(kl, valid_cells)


def teacher_cells(heatmap: torch.Tensor) -> torch.Tensor:
    """``B x H x W`` teacher probability -> ``B x 65 x H/8 x W/8`` cell distribution: the 64 pixel
    probabilities (space-to-depth) and a dustbin ``max(0, 1 - sum)``, renormalised."""
    cells = F.pixel_unshuffle(heatmap[:, None], 8)
    dustbin = (1 - cells.sum(dim=1, keepdim=True)).clamp(min=1e-4)
    cells = torch.cat([cells, dustbin], dim=1)
    return cells / cells.sum(dim=1, keepdim=True)


def kl_spatial_loss(s: torch.Tensor, t: torch.Tensor, valid: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``KL(softmax(log t / T) || softmax(s / T)) T^2`` over all valid pixels of each image, ``B x H x W``."""
    neg = torch.finfo(s.dtype).min
    log_s = F.log_softmax(torch.where(valid > 0, s / temperature, neg).flatten(1), dim=1)
    log_t = F.log_softmax(torch.where(valid > 0, t.clamp(min=1e-8).log() / temperature, neg).flatten(1), dim=1)
    return (log_t.exp() * (log_t - log_s)).nan_to_num().sum(dim=1).mean() * temperature ** 2


def attentive_loss(s: torch.Tensor, t: torch.Tensor, sigma2: torch.Tensor, valid: torch.Tensor, eps: float = 1e-3,
                   robust: str = "l2", delta: float = 0.1, log_floor: float = 0.0) -> torch.Tensor:
    """``mean(w rho(sigmoid(s) - t))`` with ``w = 1 / (2 sigma^2 + eps)`` normalised to mean 1 over the
    valid pixels of the batch: confident teacher pixels dominate. ``rho`` is L2 or Huber (``delta``). With
    ``log_floor`` F > 0, ``rho(log max(sigmoid(s), F) - log max(t, F))`` instead: the student's weak scores, which
    decide how many maxima pass a detection threshold of F and how they rank, follow the teacher's by ratio."""
    weight = 1.0 / (2 * sigma2 + eps)
    weight = weight / _masked_mean(weight, valid).clamp(min=1e-12)
    p = torch.sigmoid(s)
    diff = torch.log(p.clamp_min(log_floor)) - torch.log(t.clamp_min(log_floor)) if log_floor else p - t
    rho = diff ** 2 if robust == "l2" else F.huber_loss(diff, torch.zeros_like(diff), delta=delta, reduction="none")
    return _masked_mean(weight * rho, valid)


def huber_loss(s: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, delta: float = 0.1) -> torch.Tensor:
    """Huber between ``sigmoid(s)`` and a (smoothed) teacher map, ``B x H x W``."""
    return _masked_mean(F.huber_loss(torch.sigmoid(s), target, delta=delta, reduction="none"), valid)


def consistency_loss(p_a: torch.Tensor, p_b_in_a: torch.Tensor, valid: torch.Tensor, delta: float = 0.1,
                     log_floor: float = 0.0) -> torch.Tensor:
    """Huber between the student's probability on an image and its probability on a warped copy, warped
    back into the image's frame (``B x H x W`` each); ``valid`` marks pixels seen by both. With ``log_floor`` > 0,
    Huber between ``log(max(p, log_floor))`` of each instead: halving a weak score costs as much as halving a strong one."""
    if log_floor:
        p_a, p_b_in_a = torch.log(p_a.clamp_min(log_floor)), torch.log(p_b_in_a.clamp_min(log_floor))
    return _masked_mean(F.huber_loss(p_a, p_b_in_a, delta=delta, reduction="none"), valid)


def descriptor_loss(student: torch.Tensor, teacher: torch.Tensor, valid_cells: torch.Tensor) -> torch.Tensor:
    """Cosine distillation of descriptors, ``B x D x Hc x Wc`` each (L2-normalised): ``mean(1 - <d_S, d_T>)``
    over the valid cells ``B x Hc x Wc``."""
    return _masked_mean(1 - (student * F.normalize(teacher, dim=1)).sum(dim=1), valid_cells)


def sampled_descriptor_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Cosine distillation at points: ``mean(1 - <d_S, d_T>)`` over ``B x K x D`` L2-normalised descriptors
    sampled at the same ``B x K`` points."""
    return (1 - (student * teacher).sum(dim=-1)).mean()


def repeatability_loss(p_a: torch.Tensor, p_b_in_a: torch.Tensor, valid: torch.Tensor, patch: int = 16,
                       peaky: float = 0.5) -> torch.Tensor:
    """Self-supervised repeatability (R2D2, Revaud et al. 2019) of the probability ``B x H x W`` of an
    image and of a warped copy, warped back into the image's frame. Over ``patch x patch`` windows
    (stride ``patch / 2``) lying wholly in ``valid``: ``1 - mean cos(window of p_a, window of p_b)``
    (peaks at the same places, whatever their height) plus ``peaky * (1 - mean(max - mean))`` of the
    windows of both maps (a clear peak in each window)."""
    stride = max(1, patch // 2)
    windows = [F.unfold(m[:, None], patch, stride=stride) for m in (p_a, p_b_in_a)]  # B x patch^2 x L
    inside = (F.unfold(valid[:, None].float(), patch, stride=stride).amin(dim=1) > 0.5).float()  # B x L
    cosim = 1 - _masked_mean(F.cosine_similarity(windows[0], windows[1], dim=1, eps=1e-8), inside)
    peakiness = sum(1 - _masked_mean(w.amax(dim=1) - w.mean(dim=1), inside) for w in windows) / 2
    return cosim + peaky * peakiness
