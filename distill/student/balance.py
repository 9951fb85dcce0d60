"""Balancing the heads' inputs for int8, an exact rewrite of a trained student at export: a pyramid's
output is scaled down and the weights of the head that reads it up, so that the head's input (pyramid
features concatenated with detail features and pixels) has one range. The keypoint head reads the
detector's pyramid; a descriptor head with a pyramid of its own reads that one. Ranges are measured on
the calibration images, the embedded photos (never evaluation images), as int8's are.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from distill.student.model import Student
from labels.images import embedded_images, read_grey, resize_image

CALIBRATION_SIZE = (480, 640)


def calibration_images(size: tuple[int, int] = CALIBRATION_SIZE) -> list[np.ndarray]:
    """The embedded photos as ``1 x 1 x H x W`` float32 in [0, 1], resized to ``size``."""
    return [resize_image(read_grey(path), size).astype(np.float32)[None, None] / 255 for path in embedded_images()]


@torch.no_grad()
def balance_for_int8(model: Student, images: list[np.ndarray], percentile: float = 99.99) -> tuple[float, float]:
    """Both balances below, in place, from one backbone pass per image (``1 x 1 x H x W`` float32 in [0, 1]):
    ``(c of the keypoint head's input, c of the descriptor head's)``."""
    encodings = [model.encode(torch.from_numpy(image).to(model.mean.device)) for image in images]
    return balance_head_input(model, encodings, percentile), balance_descriptor_input(model, encodings, percentile)


@torch.no_grad()
def balance_head_input(model: Student, encodings: list[dict], percentile: float = 99.99) -> float:
    """Scale, in place, the pyramid's output convolutions by ``c`` and the head's weights that read the
    pyramid's channels by ``1 / c`` (exact: resizing and summing the levels are linear), where ``c`` makes
    the pyramid part's ``percentile`` of ``|x|`` on the images of ``encodings`` (:meth:`Student.encode`
    results, before this rewrite) equal that of the rest of the head's input (detail features, pixels).
    Per-tensor int8 gives the head's input one step size: with the pyramid's ±60 (±250 for the released
    student) next to the detail branch's 0..10, the detail features kept about ten levels. Returns ``c`` (1
    when the head reads the pyramid alone)."""
    channels = model.config.fpn_channels
    if model.detail is None and not model.pixel_shortcut:
        return 1.0
    pyramid = [encoding["fused"][:, :channels] for encoding in encodings]
    rest = [encoding["fused"][:, channels:] for encoding in encodings]
    readers = [model.head[0][0]] + ([model.descriptor_head[0][0]] if model.descriptor_head is not None
                                    and model.descriptor_fpn is None else [])
    return rescale_pyramid(model.fpn, readers, channels, matching_scale(pyramid, rest, percentile))


@torch.no_grad()
def balance_descriptor_input(model: Student, encodings: list[dict], percentile: float = 99.99) -> float:
    """The same for a descriptor head with a pyramid of its own (``student.descriptor_channels``): its input
    (:meth:`Student.descriptor_input`, which reads the backbone levels and the detail features of
    ``encodings``, not the keypoint head's pyramid) is that pyramid followed by the detail features, whose
    ranges differ as much (about ±73 against 0..11 for the fast release's branch). Returns ``c`` (1 for any
    other descriptor head)."""
    if model.descriptor_fpn is None or model.detail is None:
        return 1.0
    channels = model.config.descriptor_channels
    inputs = [model.descriptor_input(encoding) for encoding in encodings]
    scale = matching_scale([x[:, :channels] for x in inputs], [x[:, channels:] for x in inputs], percentile)
    return rescale_pyramid(model.descriptor_fpn, [model.descriptor_head[0]], channels, scale)


def matching_scale(pyramid: list[torch.Tensor], rest: list[torch.Tensor], percentile: float) -> float:
    """``c`` with ``percentile(|c * pyramid|) = percentile(|rest|)``, over every 7th value of each tensor."""
    q = percentile / 100
    sample = lambda tensors: torch.cat([t.abs().flatten()[::7] for t in tensors])
    return float(torch.quantile(sample(rest), q) / torch.quantile(sample(pyramid), q))


def rescale_pyramid(fpn: nn.Module, readers: list[nn.Conv2d], channels: int, scale: float) -> float:
    """Multiply ``fpn``'s output convolutions by ``scale`` and divide the weights by which each of ``readers``
    reads the first ``channels`` input channels by it; returns ``scale``."""
    for block in fpn.layer_blocks:  # its last convolution (a separable block's pointwise one)
        block[-1].weight.mul_(scale)
        block[-1].bias.mul_(scale)
    for reader in readers:
        # a standard convolution reads input channel c through weight[:, c]; a depthwise one through weight[c]
        (reader.weight[:channels] if reader.groups > 1 else reader.weight[:, :channels]).div_(scale)
    return scale
