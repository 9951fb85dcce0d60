"""Photometric changes to a training crop (its labels stay as they are): the illumination changes of
HPatches' ``i_*`` sequences, which a student learns to ignore only if it sees them. Seeded by the
dataset's per-item generator, so a seed gives the same batches."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d

from distill.student.config import PhotometricConfig


def photometric(image: torch.Tensor, rng: np.random.Generator, config: PhotometricConfig) -> torch.Tensor:
    """``1 x h x w`` in [0, 1] -> the same, changed in this order (each off at 0):

    - exposure, for a share ``exposure_share`` of the crops: ``round(255 x 2^-u) / 255``, ``u ~ U(0, exposure)``
      stops darker, kept in 8 bits as a camera stores a darker shot (its shadows lose their grey levels;
      as in HPatches' ``i_leuven``);
    - gamma: ``x ** exp(u)``, ``u ~ U(-gamma, gamma)`` (exposure curves);
    - shade: times a smooth field, a 3x3 grid of factors in ``[1 - shade, 1 + shade]`` upsampled
      bicubically to the crop (light from one side);
    - contrast about the crop's mean, ``mean + (x - mean) c``, ``c ~ U(1 - contrast, 1 + contrast)``;
    - gain and offset: ``x g + b``, ``g ~ U(1 - gain, 1 + gain)``, ``b ~ U(-offset, offset)``;
    - blur with probability ``blur``: Gaussian, sigma ``~ U(blur_sigma)`` px (default 0.5 to 1.5), its kernel
      ``2 ceil(2 high) + 1`` px wide (7 at the default);
    - Gaussian noise of standard deviation ``~ U(0, noise)``; clamped to [0, 1].
    """
    # a share of 1 draws no coin, so that runs made before exposure_share existed draw the same numbers
    if config.exposure and (config.exposure_share == 1 or rng.random() < config.exposure_share):
        image = torch.round(image * (255 * 2.0 ** -rng.uniform(0, config.exposure))) / 255
    if config.gamma:
        image = image.clamp(min=0) ** float(np.exp(rng.uniform(-config.gamma, config.gamma)))
    if config.shade:
        grid = torch.from_numpy(rng.uniform(1 - config.shade, 1 + config.shade, (1, 1, 3, 3)).astype(np.float32))
        image = image * F.interpolate(grid, size=image.shape[-2:], mode="bicubic", align_corners=True)[0]
    if config.contrast:
        mean = image.mean()
        image = mean + (image - mean) * rng.uniform(1 - config.contrast, 1 + config.contrast)
    image = image * rng.uniform(1 - config.gain, 1 + config.gain) + rng.uniform(-config.offset, config.offset)
    if config.blur and rng.random() < config.blur:
        low, high = config.blur_sigma
        sigma, side = float(rng.uniform(low, high)), 2 * math.ceil(2 * high) + 1
        image = gaussian_blur2d(image[None], (side, side), (sigma, sigma), border_type="reflect")[0]
    image = image + torch.from_numpy(rng.normal(0, rng.uniform(0, config.noise), image.shape).astype(np.float32))
    return image.clamp(0, 1)
