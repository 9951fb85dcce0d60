"""Student: backbone (timm, features_only) -> FPN over four levels (torchvision), its outputs
resized to the head's level and summed -> keypoint head.

Input: ``B x 1 x H x W`` grey in [0, 1], replicated to three channels and normalised with the
backbone's own mean and std. Heads:

- ``map``: a convolution of the finest pyramid level (stride 4) to one logit channel, upsampled
  bicubically to ``H x W``. Output ``B x H x W`` logits; probability ``sigmoid``.
- ``cell``: SuperPoint-style, 65 logits per 8x8 cell from the stride-8 level. Output
  ``B x 65 x H/8 x W/8``; probability by softmax, dustbin dropped, depth-to-space.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

from distill.student.backbone import create_backbone
from teachers.keypoints import Keypoints, cell_logits_to_probability, extract_keypoints


class Student(nn.Module):
    def __init__(self, backbone: str = "tf_efficientnet_lite0", head: str = "map", fpn_channels: int = 64,
                 weights: str = "auto", input_scale: float = 1.0) -> None:
        super().__init__()
        if head not in ("map", "cell"):
            raise ValueError(f"head must be 'map' or 'cell', got {head!r}")
        if input_scale != 1.0 and head != "map":
            raise ValueError("input_scale < 1 needs the map head (its logits are upsampled to the input size)")
        self.head_type = head
        self.input_scale = input_scale
        self.size_multiple = round(32 / input_scale)  # input sides must be multiples of this
        self.backbone = create_backbone(backbone, weights)
        info = self.backbone.feature_info
        self.reductions = info.reduction()
        cfg = getattr(self.backbone, "pretrained_cfg", None) or {}
        self.register_buffer("mean", torch.tensor(cfg.get("mean", (0.485, 0.456, 0.406))).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.get("std", (0.229, 0.224, 0.225))).view(1, 3, 1, 1), persistent=False)
        self.fpn = FeaturePyramidNetwork(info.channels(), fpn_channels)
        self.level = self.reductions.index(4 if head == "map" else 8)
        out = 1 if head == "map" else 65
        self.head = nn.Sequential(nn.Conv2d(fpn_channels, fpn_channels, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(fpn_channels, out, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``B x 1 x H x W`` -> logits (``B x H x W`` for ``map``, ``B x 65 x H/8 x W/8`` for ``cell``).
        ``H`` and ``W`` must be multiples of ``size_multiple`` (32 at full input scale). With
        ``input_scale < 1`` the network sees a downscaled image and its map is upsampled to ``H x W``."""
        h, w = image.shape[-2:]
        if self.input_scale != 1.0:
            image = F.interpolate(image, scale_factor=self.input_scale, mode="bilinear", antialias=True, align_corners=False)
        x = (image.expand(-1, 3, -1, -1) - self.mean) / self.std
        levels = list(self.fpn(OrderedDict((str(i), f) for i, f in enumerate(self.backbone(x)))).values())
        size = levels[self.level].shape[-2:]
        fused = sum(level if level.shape[-2:] == size else F.interpolate(level, size=size, mode="bilinear", align_corners=False)
                    for level in levels)
        logits = self.head(fused)
        if self.head_type == "map":
            return F.interpolate(logits, size=(h, w), mode="bicubic", align_corners=False)[:, 0]
        return logits

    def probability(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits -> ``B x H x W`` keypoint probability."""
        return torch.sigmoid(logits) if self.head_type == "map" else cell_logits_to_probability(logits)

    @torch.inference_mode()
    def detect(self, image: torch.Tensor, threshold: float = 0.015, nms_radius: int = 4,
               top_k: int | None = None) -> list[Keypoints]:
        return extract_keypoints(self.probability(self(image)), threshold, nms_radius, top_k)
