"""Student: backbone (timm, features_only) -> FPN over four levels (torchvision), its outputs
resized to the head's grid and summed -> keypoint head.

Input: ``B x 1 x H x W`` grey in [0, 1]. The backbone sees it replicated to three channels,
normalised with the backbone's own mean and std, and scaled by ``input_scale`` (0.5: a quarter of
the pixels, the main lever on speed; antialiased bilinear, or with ``downscale="area"`` the mean of
each ``1/input_scale``-sided block, one average pooling). Heads, on a grid of the *input image*:

- ``map``: one logit channel at stride 4, upsampled bicubically to ``H x W``. Output ``B x H x W``
  logits; probability ``sigmoid``.
- ``cell``: SuperPoint-style, 65 logits per 8x8 cell (stride 8). Output ``B x 65 x H/8 x W/8``;
  probability by softmax, dustbin dropped, depth-to-space.

Full-resolution detail for a backbone that sees a downscaled image (both optional, either head):
``pixel_shortcut`` feeds the head the grey values of each cell of its grid (space-to-depth: 64 per
8x8 cell, as XFeat's keypoint head does), and ``detail_channels`` the output of a small CNN on the
full-resolution image (:func:`detail_branch`). The head is a 3x3 (``head_kernel`` 1: 1x1) convolution
(``head_channels``, batch norm, ReLU) over the concatenation, then a 1x1 convolution to the logits.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

from distill.detection.detector import sampled
from distill.student.backbone import DeeperStages, create_backbone
from distill.student.config import StudentConfig
from teachers.config import DetectionConfig
from teachers.keypoints import Keypoints, cell_logits_to_probability, extract_keypoints
from teachers.superpoint import bilinear_cells


def conv_bn_relu(inputs: int, outputs: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, kernel, stride, padding=kernel // 2), nn.BatchNorm2d(outputs),
                         nn.ReLU(inplace=True))


def separable_conv(inputs: int, outputs: int, stride: int = 1) -> nn.Sequential:
    """A 3x3 convolution made depthwise-separable, depthwise 3x3 then pointwise 1x1, still linear (as torchvision's
    ``FeaturePyramidNetwork`` layer blocks): ``9 C_in + C_in C_out`` multiply-adds per output pixel instead of
    ``9 C_in C_out`` (about 8x fewer at 128 channels)."""
    return nn.Sequential(nn.Conv2d(inputs, inputs, 3, stride, padding=1, groups=inputs), nn.Conv2d(inputs, outputs, 1))


def separable_bn_relu(inputs: int, outputs: int, stride: int = 1) -> nn.Sequential:
    """:func:`separable_conv`, batch norm, ReLU."""
    return nn.Sequential(*separable_conv(inputs, outputs, stride), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True))


def detail_branch(channels: int, stride: int, start: int = 4, separable: bool = False) -> nn.Sequential:
    """A small CNN on the full-resolution grey image, ``B x 1 x H x W`` -> ``B x channels x H/stride x W/stride``
    (stride 4 or 8): space-to-depth by ``start`` (1, 2 or 4; each ``start x start`` block becomes
    ``start^2`` channels), a 3x3 convolution there, then 3x3 convolutions of stride 2 down to ``stride``.
    Widths: ``channels * r / stride`` at stride ``r >= 4``, ``8 r`` below (cheap at high resolution).
    Learned from scratch; it gives the head local structure (gradients, corners) at full resolution
    for a few percent of the backbone's cost; a smaller ``start`` sees finer structure for a little more.
    ``separable``: the stride-2 convolutions are depthwise-separable."""
    if start not in (1, 2, 4) or start > stride:
        raise ValueError(f"detail_start must be 1, 2 or 4 (at most the head stride {stride}), got {start}")

    def width(r: int) -> int:
        return channels * r // stride if r >= 4 else 8 * r

    layers: list[nn.Module] = [nn.PixelUnshuffle(start)] if start > 1 else []
    layers.append(conv_bn_relu(start ** 2, width(start)))
    r = start
    while r < stride:
        layers.append((separable_bn_relu if separable else conv_bn_relu)(width(r), width(2 * r), stride=2))
        r *= 2
    return nn.Sequential(*layers)


class Student(nn.Module):
    """The student network described by a :class:`StudentConfig` (its defaults are the only ones)."""

    def __init__(self, config: StudentConfig = StudentConfig()) -> None:
        super().__init__()
        self.config = config
        self.head_type = config.head
        self.stride = config.stride
        self.input_scale = config.input_scale
        self.pixel_shortcut = config.pixel_shortcut
        # forward() needs sides that are multiples of the head stride (probability_map pads to them);
        # pyramid levels of other sizes are resized to the grid
        self.size_multiple = self.stride
        self.backbone = create_backbone(config.backbone, config.backbone_weights, config.backbone_levels, config.backbone_antialias)
        info = self.backbone.feature_info
        cfg = getattr(self.backbone, "pretrained_cfg", None) or {}
        self.register_buffer("mean", torch.tensor(cfg.get("mean", (0.485, 0.456, 0.406))).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.get("std", (0.229, 0.224, 0.225))).view(1, 3, 1, 1), persistent=False)
        self.fpn = FeaturePyramidNetwork(info.channels(), config.fpn_channels)
        self.detail = (detail_branch(config.detail_channels, self.stride, config.detail_start, config.separable)
                       if config.detail_channels else None)
        inputs = config.fpn_channels + (self.stride ** 2 if config.pixel_shortcut else 0) + config.detail_channels
        width = config.head_channels or config.fpn_channels
        first = separable_bn_relu(inputs, width) if config.separable else conv_bn_relu(inputs, width, kernel=config.head_kernel)
        self.head = nn.Sequential(first, nn.Conv2d(width, 1 if config.head == "map" else 65, 1))
        # descriptors at 1/8: SuperPoint's head (3x3 convolution, 1x1 to the descriptor size) on the detector's
        # features, or (descriptor_channels) a pyramid of its own over the backbone with the detail branch, then 1x1, 1x1
        # (descriptor_levels) over the backbone's deeper stages too, which the detector never computes; the head's
        # hidden layer descriptor_hidden wide, the pyramid's 3x3 layers depthwise-separable with descriptor_separable
        self.descriptor_stages = (DeeperStages(config.backbone, config.backbone_weights, config.backbone_levels,
                                               config.descriptor_levels, config.backbone_antialias)
                                  if config.descriptor_levels else None)
        described_levels = self.descriptor_stages.channels if self.descriptor_stages is not None else info.channels()
        self.descriptor_fpn = (FeaturePyramidNetwork(described_levels, config.descriptor_channels)
                               if config.descriptor_dim and config.descriptor_channels else None)
        hidden = config.descriptor_hidden
        if self.descriptor_fpn is not None:
            if config.descriptor_separable:
                self.descriptor_fpn.layer_blocks = nn.ModuleList(separable_conv(config.descriptor_channels, config.descriptor_channels)
                                                                 for _ in self.descriptor_fpn.layer_blocks)
            # a detail branch of the descriptors' own: the detector's is trained for corners and frozen under them
            self.descriptor_detail = (detail_branch(config.descriptor_detail, self.stride, config.detail_start, separable=True)
                                      if config.descriptor_detail else None)
            described = config.descriptor_channels + (config.descriptor_detail or config.detail_channels)
            self.descriptor_head = nn.Sequential(nn.Conv2d(described, hidden, 1), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
                                                 nn.Conv2d(hidden, config.descriptor_dim, 1))
        else:
            self.descriptor_detail = None
            self.descriptor_head = (nn.Sequential(conv_bn_relu(inputs, hidden), nn.Conv2d(hidden, config.descriptor_dim, 1))
                                    if config.descriptor_dim else None)

    def forward(self, image: torch.Tensor, descriptors: bool = False):
        """``B x 1 x H x W`` -> logits (``B x H x W`` for ``map``, ``B x 65 x H/8 x W/8`` for ``cell``);
        with ``descriptors`` (and a descriptor head), ``(logits, B x D x H/8 x W/8 L2-normalised descriptors)``.
        ``H`` and ``W`` must be multiples of ``size_multiple`` (the head stride)."""
        encoding = self.encode(image)
        logits = self.keypoint_logits(encoding)
        return (logits, self.describe(encoding)) if descriptors else logits

    def encode(self, image: torch.Tensor) -> dict:
        """The features both heads read: backbone levels, the detail branch's output and the keypoint
        head's input, so that descriptors can be computed later (or never) from one backbone pass."""
        h, w = image.shape[-2:]
        grid = (h // self.stride, w // self.stride)
        x = image
        if self.input_scale != 1.0:
            x = (F.avg_pool2d(image, round(1 / self.input_scale)) if self.config.downscale == "area" else
                 F.interpolate(image, scale_factor=self.input_scale, mode="bilinear", antialias=True, align_corners=False))
        x = (x.expand(-1, 3, -1, -1) - self.mean) / self.std
        features = OrderedDict((str(i), f) for i, f in enumerate(self.backbone(x)))
        fused = self._on_grid(self.fpn(features), grid)
        centred = image * 2 - 1
        if self.pixel_shortcut:
            fused = torch.cat([fused, F.pixel_unshuffle(centred, self.stride)], dim=1)
        detail = self.detail(centred) if self.detail is not None else None
        if detail is not None:
            fused = torch.cat([fused, detail], dim=1)
        return {"size": (h, w), "grid": grid, "features": features, "centred": centred, "detail": detail, "fused": fused}

    def keypoint_logits(self, encoding: dict) -> torch.Tensor:
        """The keypoint head on an :meth:`encode` result (see :meth:`forward` for the shapes)."""
        logits = self.head(encoding["fused"])
        if self.head_type == "map":
            logits = F.interpolate(logits, size=encoding["size"], mode="bicubic", align_corners=False)[:, 0]
        return logits

    def describe(self, encoding: dict) -> torch.Tensor:
        """``B x D x H/8 x W/8`` L2-normalised descriptors from an :meth:`encode` result."""
        if self.descriptor_head is None:
            raise ValueError("this student has no descriptor head (student.descriptor_dim is 0)")
        return F.normalize(self.descriptor_head(self.descriptor_input(encoding)), dim=1)

    def descriptors_at(self, encoding: dict, points: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each image's ``N_i x D`` L2-normalised descriptors at its ``N_i x 2`` pixel positions (x, y) from an
        :meth:`encode` result: :meth:`describe` sampled as SuperPoint samples (:func:`sample_descriptors`), the same
        up to float rounding. A head of 1x1 convolutions on a pyramid of its own (``descriptor_channels``) describes
        each cell from that cell's input alone, so it runs only on the cells the sampling reads
        (:func:`bilinear_cells`): about half the grid for 1024 points at 480x640, where the head is most of the
        descriptors' cost. A 3x3 head (SuperPoint's, on the detector's features) runs on the whole grid."""
        if self.descriptor_head is None:
            raise ValueError("this student has no descriptor head (student.descriptor_dim is 0)")
        if self.descriptor_fpn is None:
            return sampled(lambda: self.describe(encoding))(points)
        inputs = self.descriptor_input(encoding)
        channels, h, w = inputs.shape[1:]
        described = []
        for cells, xy in zip(inputs, points):
            if len(xy) == 0:  # no cell to run the head on (a convolution refuses an empty input)
                described.append(inputs.new_zeros(0, self.config.descriptor_dim))
                continue
            index, weights = bilinear_cells(xy, (h, w))
            used, where = torch.unique(index, return_inverse=True)
            read = cells.permute(1, 2, 0).reshape(h * w, channels)[used]  # M x C, the cells' inputs
            head = F.normalize(self.descriptor_head(read.t()[None, :, :, None])[0, :, :, 0].t(), dim=1)  # M x D
            described.append(F.normalize(F.embedding_bag(where, head, per_sample_weights=weights, mode="sum"), dim=1))
        return described

    def descriptor_input(self, encoding: dict) -> torch.Tensor:
        """What the descriptor head reads, ``B x C x H/8 x W/8``: the keypoint head's input, or (a descriptor pyramid
        of its own) that pyramid's ``descriptor_channels`` followed by the detail features (``descriptor_detail``: of
        its own detail branch)."""
        fused = encoding["fused"]
        if self.descriptor_fpn is not None:
            levels = encoding["features"]
            if self.descriptor_stages is not None:
                shallow = list(levels.values())
                levels = OrderedDict((str(i), f) for i, f in enumerate(shallow + self.descriptor_stages(shallow[-1])))
            fused = self._on_grid(self.descriptor_fpn(levels), encoding["grid"])
            detail = self.descriptor_detail(encoding["centred"]) if self.descriptor_detail is not None else encoding["detail"]
            fused = fused if detail is None else torch.cat([fused, detail], dim=1)
        return fused if self.stride == 8 else F.avg_pool2d(fused, 2)

    @staticmethod
    def _on_grid(levels: OrderedDict, grid: tuple[int, int]) -> torch.Tensor:
        """The sum of pyramid levels, each resized (bilinearly) to the head's ``grid``."""
        return sum(level if level.shape[-2:] == grid else F.interpolate(level, size=grid, mode="bilinear", align_corners=False)
                   for level in levels.values())

    def probability(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits -> ``B x H x W`` keypoint probability."""
        return torch.sigmoid(logits) if self.head_type == "map" else cell_logits_to_probability(logits)

    def probability_map(self, image: torch.Tensor, descriptors: bool = False):
        """``B x 1 x H x W`` of any size -> ``B x H x W`` keypoint probability: padded with zeros at the
        bottom and right to a multiple of the head stride, cropped back (no point lies in the padding).
        With ``descriptors``: ``(probability, B x D x ceil(H/8) x ceil(W/8) descriptors of the padded image)``."""
        probability, later = self.probability_then_descriptors(image)
        return (probability, later()) if descriptors else probability

    def probability_then_descriptors(self, image: torch.Tensor) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
        """:meth:`probability_map` now and a function that computes the descriptors from the same backbone
        pass when called: a detector that is only asked for keypoints never pays for its descriptor branch."""
        probability, encoding = self.encoded_probability(image)
        return probability, lambda: self.describe(encoding)

    def encoded_probability(self, image: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """:meth:`probability_map` and the :meth:`encode` result of the padded image it came from, from which
        :meth:`describe` or :meth:`descriptors_at` give descriptors later (or never)."""
        h, w = image.shape[-2:]
        padded = F.pad(image, (0, (-w) % self.size_multiple, 0, (-h) % self.size_multiple))
        encoding = self.encode(padded)
        return self.probability(self.keypoint_logits(encoding))[:, :h, :w], encoding

    @torch.inference_mode()
    def detect(self, image: torch.Tensor, detection: DetectionConfig = DetectionConfig(), top_k: int | None = None,
               subpixel: bool = False) -> list[Keypoints]:
        """Keypoints of each ``B x 1 x H x W`` image (in eval mode), strongest first."""
        return extract_keypoints(self.probability_map(image), detection.threshold, detection.nms_radius, top_k,
                                 subpixel=subpixel)
