"""Balancing the keypoint head's input for int8, an exact rewrite of a trained student at export: the
pyramid's output is scaled down and the head's weights that read it up, so that the head's input
(pyramid features concatenated with detail features and pixels) has one range. Ranges are measured
on the calibration images, the embedded photos (never evaluation images), as int8's are.
"""
from __future__ import annotations

import numpy as np
import torch

from distill.student.model import Student
from labels.images import embedded_images, read_grey, resize_image

CALIBRATION_SIZE = (480, 640)


def calibration_images(size: tuple[int, int] = CALIBRATION_SIZE) -> list[np.ndarray]:
    """The embedded photos as ``1 x 1 x H x W`` float32 in [0, 1], resized to ``size``."""
    return [resize_image(read_grey(path), size).astype(np.float32)[None, None] / 255 for path in embedded_images()]


@torch.no_grad()
def balance_head_input(model: Student, images: list[np.ndarray], percentile: float = 99.99) -> float:
    """Scale, in place, the pyramid's output convolutions by ``c`` and the head's weights that read the
    pyramid's channels by ``1 / c`` (exact: resizing and summing the levels are linear), where ``c`` makes
    the pyramid part's ``percentile`` of ``|x|`` on ``images`` (``1 x 1 x H x W`` float32 in [0, 1]) equal
    that of the rest of the head's input (detail features, pixels). Per-tensor int8 gives the head's
    input one step size: with the pyramid's ±60 (±250 for the released student) next to the detail
    branch's 0..10, the detail features kept about ten levels. Returns ``c`` (1 when the head reads the
    pyramid alone)."""
    channels = model.config.fpn_channels
    if model.detail is None and not model.pixel_shortcut:
        return 1.0
    pyramid, rest = [], []
    for image in images:
        fused = model.encode(torch.from_numpy(image).to(model.mean.device))["fused"]
        pyramid.append(fused[:, :channels].abs().flatten()[::7])
        rest.append(fused[:, channels:].abs().flatten()[::7])
    q = percentile / 100
    scale = float(torch.quantile(torch.cat(rest), q) / torch.quantile(torch.cat(pyramid), q))
    for block in model.fpn.layer_blocks:
        block[0].weight.mul_(scale)
        block[0].bias.mul_(scale)
    readers = [model.head[0][0]] + ([model.descriptor_head[0][0]] if model.descriptor_head is not None
                                    and model.descriptor_fpn is None else [])
    for reader in readers:
        # a standard convolution reads input channel c through weight[:, c]; a depthwise one through weight[c]
        (reader.weight[:channels] if reader.groups > 1 else reader.weight[:, :channels]).div_(scale)
    return scale
