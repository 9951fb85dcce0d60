"""The student's and the training run's configuration: every default of ``distill train`` lives here
(``--config FILE`` and ``--set key=value`` override it; ``distill train --show-config`` prints it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from teachers.config import DetectionConfig, check_filter_threshold

HEADS = ("cell", "map")
ANTIALIAS = ("none", "blur", "blurpc")  # timm's aa_layer names: BlurPool2d (reflect padding), BlurPool2d with zero padding
DOWNSCALES = ("bilinear", "area")


@dataclass
class StudentConfig:
    """The network (:class:`distill.student.model.Student`)."""

    backbone: str = "tf_efficientnet_lite0"  # timm name
    backbone_weights: str = "auto"  # auto | hub | none | path to a state dict
    backbone_levels: int = 4  # backbone levels the pyramid reads (strides 4 to 32); 3 or 2: the deeper stages are not computed
    backbone_antialias: str = "none"  # none | blur | blurpc: timm's BlurPool (aa_layer) after the backbone's strided convolutions (shift robustness; same weights)
    head: str = "cell"  # cell (65 logits per 8x8 cell, SuperPoint-style) | map (one logit channel at stride 4, bicubic upsampling)
    fpn_channels: int = 32
    input_scale: float = 0.5  # the backbone sees the image scaled by this (0.5: a quarter of the pixels, ~4x cheaper)
    downscale: str = "bilinear"  # how: bilinear (antialiased) | area (the mean of each block; 1/input_scale a whole number dividing the head stride)
    pixel_shortcut: bool = False  # the head also sees the grey values of each cell of its grid at full resolution
    detail_channels: int = 128  # a small CNN on the full-resolution image feeds the head this many channels; 0: off (init: may narrow)
    detail_start: int = 2  # the detail CNN starts on space-to-depth blocks of this side: 1, 2 or 4 (at most the head stride)
    head_channels: Optional[int] = 128  # width of the head's 3x3 convolution; null: fpn_channels (init: may narrow)
    head_kernel: int = 3  # kernel side of the head's first convolution: 3, or 1 (9x cheaper; init loads a 3x3 head's centre taps)
    separable: bool = False  # depthwise-separable 3x3 convolutions in the head and the detail branch's stride-2 layers (speed)
    descriptor_dim: int = 0  # > 0: also a descriptor head, L2-normalised descriptors of this size at 1/8 (256: SuperPoint's)
    descriptor_channels: int = 0  # > 0: the descriptor head reads its own FPN of this width over the backbone (plus the detail branch); 0: the detector's features
    descriptor_levels: int = 0  # > backbone_levels (up to 4): that pyramid also reads the backbone's deeper stages, computed for the descriptors alone; 0: the detector's levels
    descriptor_separable: bool = False  # that pyramid's 3x3 convolutions depthwise-separable (speed; ~8x fewer multiply-adds at 128 channels)
    descriptor_hidden: int = 256  # width of the descriptor head's hidden layer (speed: 128 halves its 1x1 layers)
    descriptor_detail: int = 0  # > 0: that pyramid's head reads a detail branch of its own, this wide (depthwise-separable stride-2 layers), in place of the detector's

    def __post_init__(self) -> None:
        if self.backbone_antialias not in ANTIALIAS:
            raise ValueError(f"student.backbone_antialias must be one of {', '.join(ANTIALIAS)}, got {self.backbone_antialias!r}")
        if self.head not in HEADS:
            raise ValueError(f"student.head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if not 0 < self.input_scale <= 1:
            raise ValueError(f"student.input_scale must be in (0, 1], got {self.input_scale}")
        if self.downscale not in DOWNSCALES:
            raise ValueError(f"student.downscale must be one of {', '.join(DOWNSCALES)}, got {self.downscale!r}")
        if self.downscale == "area" and (abs(1 / self.input_scale - round(1 / self.input_scale)) > 1e-6
                                         or self.stride % round(1 / self.input_scale)):
            raise ValueError(f"student.downscale=area needs 1/student.input_scale to be a whole number that divides the head "
                             f"stride {self.stride}, got input_scale {self.input_scale}")
        if self.head_kernel not in (1, 3) or (self.head_kernel == 1 and self.separable):
            raise ValueError(f"student.head_kernel must be 1 or 3 (3 with student.separable), got {self.head_kernel}")
        if self.detail_channels and self.detail_start not in (1, 2, 4):
            raise ValueError(f"student.detail_start must be 1, 2 or 4, got {self.detail_start}")
        if self.descriptor_dim not in (0, 256):
            raise ValueError(f"student.descriptor_dim must be 0 (no descriptors) or 256 (SuperPoint's, what LightGlue's "
                             f"SuperPoint weights take), got {self.descriptor_dim}")
        if self.descriptor_channels < 0 or (self.descriptor_channels and not self.descriptor_dim):
            raise ValueError("student.descriptor_channels must be >= 0, and > 0 only with a descriptor head (student.descriptor_dim)")
        if self.descriptor_separable and not self.descriptor_channels:
            raise ValueError("student.descriptor_separable needs a descriptor pyramid (student.descriptor_channels > 0)")
        if self.descriptor_detail < 0 or (self.descriptor_detail and not self.descriptor_channels):
            raise ValueError("student.descriptor_detail must be >= 0, and > 0 only with a descriptor pyramid (student.descriptor_channels > 0)")
        if self.descriptor_hidden < 1:
            raise ValueError(f"student.descriptor_hidden must be >= 1, got {self.descriptor_hidden}")
        if self.backbone_levels not in (2, 3, 4):
            raise ValueError(f"student.backbone_levels must be 2, 3 or 4, got {self.backbone_levels}")
        if self.descriptor_levels and not (self.descriptor_channels and self.backbone_levels < self.descriptor_levels <= 4):
            raise ValueError(f"student.descriptor_levels must be 0, or more than student.backbone_levels "
                             f"({self.backbone_levels}) and at most 4 with a descriptor pyramid (student.descriptor_channels), "
                             f"got {self.descriptor_levels}")
        if self.fpn_channels < 1 or self.detail_channels < 0:
            raise ValueError("student.fpn_channels must be >= 1 and student.detail_channels >= 0")

    @property
    def stride(self) -> int:
        """Stride of the head's grid; input sides are padded to a multiple of it."""
        return 8 if self.head == "cell" else 4


@dataclass
class FocalConfig:
    weight: float = 1.0
    alpha: float = 0.25
    gamma: float = 2.0
    smoothing: bool = False  # Gaussian blobs in [0.1, 0.9] instead of the binary keypoint mask
    sigma: float = 1.0
    threshold: Optional[float] = None  # target keypoints: null, the store's own; a value, its heatmap's NMS maxima above it

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0 <= self.threshold < 1:
            raise ValueError(f"losses.focal.threshold must be in [0, 1) or null, got {self.threshold}")


@dataclass
class KLConfig:
    weight: float = 0.0  # cell head: per-cell KL (off: focal alone learns faster, docs/experiments.md); map head: spatial KL (turn it on)
    temperature: float = 1.0
    focal_gamma: float = 0.0  # MQD-style weighting of each distribution by the student's error


@dataclass
class AttentiveConfig:
    weight: float = 1.0
    eps: float = 0.001
    robust: str = "l2"  # l2 | huber
    log_floor: float = 0.0  # > 0: compare log(max(p, log_floor)) with the teacher's, so its weak scores count by ratio; 0: probabilities

    def __post_init__(self) -> None:
        if self.robust not in ("l2", "huber"):
            raise ValueError(f"losses.attentive.robust must be l2 or huber, got {self.robust!r}")
        if not 0 <= self.log_floor < 1:
            raise ValueError(f"losses.attentive.log_floor must be in [0, 1) (0: probabilities), got {self.log_floor}")


@dataclass
class HuberConfig:
    weight: float = 0.0
    delta: float = 0.1
    sigma: float = 1.0


@dataclass
class ConsistencyConfig:
    weight: float = 0.0  # the student on a random warp of each crop, warped back, against itself
    delta: float = 0.1
    shift: int = 0  # > 0: the warp is a whole-pixel shift of up to this many px along each axis (nothing resampled), not a homography
    # > 0: compare log(max(p, log_floor)) rather than p, so that the order of the weak maxima (which decides which
    # points make a top-k) counts as much as the height of the strong ones; 0: probabilities. For a detector that already
    # finds its points (a fine-tune): from ImageNet weights a map under the floor everywhere meets it, and training collapses
    log_floor: float = 0.0

    def __post_init__(self) -> None:
        if self.shift < 0:
            raise ValueError(f"losses.consistency.shift must be >= 0 (0: a homography), got {self.shift}")
        if not 0 <= self.log_floor < 1:
            raise ValueError(f"losses.consistency.log_floor must be in [0, 1) (0: probabilities), got {self.log_floor}")


@dataclass
class RepeatabilityConfig:
    weight: float = 0.0  # R2D2-style: local cosine similarity of the maps of a crop and of its random warp, plus peakiness
    patch: int = 16  # window side (px)
    peaky: float = 0.5  # weight of the peakiness term inside the loss


@dataclass
class DescriptorLossConfig:
    weight: float = 1.0  # cosine distillation of the teacher's descriptors (used when student.descriptor_dim > 0)
    # the same distance again at the student's own top_k points, sampled as matching samples them: the cells the
    # detector's points read, rather than every cell alike (0: off)
    at_points: float = 0.0
    top_k: int = 160  # points per crop, as losses.metric

    def __post_init__(self) -> None:
        if self.at_points < 0 or self.top_k < 1:
            raise ValueError(f"losses.descriptor needs at_points >= 0 and top_k >= 1, got {self.at_points}, {self.top_k}")


@dataclass
class LightGlueLossConfig:
    # LightGlue (stock SuperPoint weights, frozen) on the student's points and descriptors of a crop and of a random
    # warp of it: its negative log-likelihood of the true assignment trains the descriptors (distill/student/matcher_loss.py)
    weight: float = 0.0
    top_k: int = 160  # points per crop: 1024 on 480x640, the matching protocol's density, is 164 on 192x256
    match_px: float = 3.0  # mutual nearest under the homography within this: a true match
    unmatched_px: float = 5.0  # no point within this of a point's warp: it has no match

    def __post_init__(self) -> None:
        if self.top_k < 1 or not 0 < self.match_px <= self.unmatched_px:
            raise ValueError(f"losses.lightglue needs top_k >= 1 and 0 < match_px <= unmatched_px, got {self.top_k}, "
                             f"{self.match_px}, {self.unmatched_px}")


@dataclass
class MetricLossConfig:
    # HardNet's triplet margin loss on the student's descriptors of a crop and of a random warp of it: true matches
    # close, the hardest non-matching points of either image far (distill/student/metric_loss.py)
    weight: float = 0.0
    top_k: int = 160  # points per crop, as losses.lightglue
    match_px: float = 3.0  # mutual nearest under the homography within this: a true match
    negative_px: float = 5.0  # a point at least this far from where the other lands may serve as its negative
    margin: float = 1.0  # on Euclidean distances of L2-normalised descriptors (0 to 2), HardNet's

    def __post_init__(self) -> None:
        if self.top_k < 1 or not 0 < self.match_px <= self.negative_px or self.margin <= 0:
            raise ValueError(f"losses.metric needs top_k >= 1, 0 < match_px <= negative_px and margin > 0, got "
                             f"{self.top_k}, {self.match_px}, {self.negative_px}, {self.margin}")


@dataclass
class LossesConfig:
    """Weights and parameters of each loss (``distill/student/losses.py``); weight 0 turns a loss off."""

    focal: FocalConfig = field(default_factory=FocalConfig)
    kl: KLConfig = field(default_factory=KLConfig)
    attentive: AttentiveConfig = field(default_factory=AttentiveConfig)
    huber: HuberConfig = field(default_factory=HuberConfig)
    consistency: ConsistencyConfig = field(default_factory=ConsistencyConfig)
    repeatability: RepeatabilityConfig = field(default_factory=RepeatabilityConfig)
    descriptor: DescriptorLossConfig = field(default_factory=DescriptorLossConfig)
    lightglue: LightGlueLossConfig = field(default_factory=LightGlueLossConfig)
    metric: MetricLossConfig = field(default_factory=MetricLossConfig)


@dataclass
class PairLossConfig:
    """LightGlue pair mode (stores labelled with ``--lightglue``); combines with the losses above."""

    enabled: bool = False
    huber: float = 1.0  # Huber to Gaussian blobs (sigma below, in [0.1, 0.9]) at consistently matched points, both images
    consistency: float = 1.0  # the image's map against the warped copy's map warped back by the known homography
    # focal loss (losses.focal's alpha and gamma) of each image's map against its consistently matched points alone:
    # the points SuperPoint + LightGlue match across the warp are the positives, every other pixel a negative
    focal: float = 0.0
    sigma: float = 1.0
    # each image's LightGlue pair from this store of the same photos (labelled with --lightglue) instead of from the
    # training stores, whose heatmaps stay the targets: SuperPoint + LightGlue's matchable points for a student's labels
    store: Optional[str] = None


@dataclass
class PhotometricConfig:
    """Changes to the training image alone when ``augment`` is on (``distill/student/photometric.py``);
    0 turns one off. The defaults are the mild ones every released student was trained with."""

    gain: float = 0.3  # brightness factor in [1 - gain, 1 + gain]
    offset: float = 0.1  # added, in [-offset, offset]
    noise: float = 0.02  # Gaussian noise, its standard deviation drawn in [0, noise]
    gamma: float = 0.0  # x ** exp(u), u in [-gamma, gamma]
    contrast: float = 0.0  # about the crop's mean, factor in [1 - contrast, 1 + contrast]
    shade: float = 0.0  # a smooth multiplicative field (3x3 factors in [1 - shade, 1 + shade], bicubic)
    blur: float = 0.0  # probability of a Gaussian blur, its sigma drawn in blur_sigma
    blur_sigma: List[float] = field(default_factory=lambda: [0.5, 1.5])  # px, [low, high]: the blur's sigma ~ U(low, high)
    exposure: float = 0.0  # darker exposures: up to this many stops (times 2^-u, u in [0, exposure]), kept in 8 bits
    exposure_share: float = 1.0  # the share of crops darkened (the others keep their exposure)

    def __post_init__(self) -> None:
        for key in ("gain", "contrast", "shade"):
            if not 0 <= getattr(self, key) < 1:
                raise ValueError(f"photometric.{key} must be in [0, 1), got {getattr(self, key)}")
        for key in ("offset", "noise", "gamma", "exposure"):
            if getattr(self, key) < 0:
                raise ValueError(f"photometric.{key} must be >= 0, got {getattr(self, key)}")
        for key in ("blur", "exposure_share"):
            if not 0 <= getattr(self, key) <= 1:
                raise ValueError(f"photometric.{key} is a probability, in [0, 1], got {getattr(self, key)}")
        if len(self.blur_sigma) != 2 or not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"photometric.blur_sigma must be [low, high] with 0 < low <= high, got {self.blur_sigma}")


@dataclass
class TrainConfig:
    """A training run (``distill train``); saved in ``runs/<name>/config.yaml`` and in each checkpoint."""

    name: Optional[str] = None  # run folder runs/<name>; default: <backbone>-<head>-<time>
    stores: List[str] = field(default_factory=list)  # label stores (index files); default: the newest data/labels/superpoint-*.h5
    store_weights: List[float] = field(default_factory=list)  # optional sampling weight per store (e.g. [1, 0.3])
    # descriptor head: the teacher's descriptors of every image of the stores come from this store (the same images,
    # labelled with --descriptors) instead of from the stores themselves, so that a detector learns its store's
    # keypoints while the whole network learns SuperPoint's descriptors (joint training, with train_only empty)
    descriptor_store: Optional[str] = None
    student: StudentConfig = field(default_factory=StudentConfig)
    crop: Tuple[int, int] = (192, 256)  # training crop H x W (multiples of 8)
    batch_size: int = 16
    steps: int = 1200  # optimiser steps (10-12 minutes on 2 CPU cores)
    lr: float = 0.003
    weight_decay: float = 0.0001
    grad_clip: float = 1.0
    ema: float = 0.0  # > 0: checkpoints hold an exponential moving average of the weights, this decay per step (e.g. 0.995)
    val_fraction: float = 0.15  # share of images (by hash) held out for validation
    val_every: int = 250  # steps between validations and checkpoints
    val_hpatches: Optional[str] = None  # HPatches folder: validate (and pick best.pt) there instead of on held-out store images
    init: Optional[str] = None  # start from the weights of this checkpoint ("pretrained": the released student); same architecture but the descriptor branch, separable, input_scale, downscale and head_kernel, and detail and head narrower
    init_fresh: List[str] = field(default_factory=list)  # parts (as train_only's) that start fresh, not from init's weights
    train_only: List[str] = field(default_factory=list)  # train only these parts (backbone, fpn, detail, head, descriptor_stages, descriptor_fpn, descriptor_detail, descriptor_head); the rest stays frozen
    keep_checkpoints: bool = False  # also keep the weights at every validation: checkpoints/step-NNNNNN.pt (scripts/validation_agreement.py)
    workers: int = 0  # DataLoader workers
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    augment: bool = True  # random crops, flips and photometric changes
    warp: bool = False  # also a random homography per item (resampling blurs the image and rounds label peaks; docs/experiments.md); with a descriptor head, the teacher's descriptors of the warped points
    # each item's labels and image rescaled by a factor drawn log-uniformly in [low, high] before the crop (keypoints
    # moved exactly, heatmaps resampled, what falls outside the image invalid): [1, 1] is off
    scale_range: Tuple[float, float] = (1.0, 1.0)
    photometric: PhotometricConfig = field(default_factory=PhotometricConfig)  # with augment: changes to the image alone
    losses: LossesConfig = field(default_factory=LossesConfig)
    pair: PairLossConfig = field(default_factory=PairLossConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)  # how the trained student detects (validation, eval, detect)
    # LightGlue keeps the trained student's matches above this confidence (distill.match, eval matching); None:
    # LightGlue's default. Chosen on validation photos after training, set by distill export --filter-threshold
    filter_threshold: Optional[float] = None

    def __post_init__(self) -> None:
        if any(side % 8 or side < 16 for side in self.crop):
            raise ValueError(f"crop must be two multiples of 8 of at least 16 (H x W), got {list(self.crop)}")
        for key in ("steps", "batch_size", "val_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema is a decay per step, in [0, 1) (0: off), got {self.ema}")
        if not 0.1 <= self.scale_range[0] <= self.scale_range[1] <= 10:
            raise ValueError(f"scale_range must be [low, high] with 0.1 <= low <= high <= 10, got {list(self.scale_range)}")
        check_filter_threshold(self.filter_threshold)
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.descriptor_store and not self.student.descriptor_dim:
            raise ValueError("descriptor_store feeds a descriptor head: set student.descriptor_dim=256 (and student.descriptor_channels)")
        if self.descriptor_store and not self.trains_descriptors:
            raise ValueError(f"descriptor_store feeds the descriptor branch, but train_only ({', '.join(self.train_only)}) "
                             f"trains no part its descriptors are read from")
        if self.losses.lightglue.weight and (self.student.descriptor_dim != 256 or not self.trains_descriptors):
            raise ValueError("losses.lightglue trains the descriptors for LightGlue's SuperPoint weights: it needs "
                             "student.descriptor_dim=256 and train_only with a part the descriptors are read from")
        if self.losses.metric.weight and not self.trains_descriptors:
            raise ValueError("losses.metric trains the descriptors: it needs student.descriptor_dim > 0 and train_only "
                             "with a part the descriptors are read from (--init keeps a checkpoint's descriptor branch only "
                             "when student.descriptor_dim and student.descriptor_channels are set to its own, e.g. "
                             "--set student.descriptor_dim=256 --set student.descriptor_channels=128)")
        if self.pair.store and not self.pair.enabled:
            raise ValueError("pair.store feeds pair mode: set pair.enabled=true")

    @property
    def trains_descriptors(self) -> bool:
        """Whether the descriptor loss can move a part ``train_only`` trains: the descriptor head or a part its
        descriptors are read from (the backbone, the detail branch or its own, and its own pyramid with its deeper stages, or else the
        detector's)."""
        if not self.student.descriptor_dim:
            return False
        pyramid = ("descriptor_stages", "descriptor_fpn") if self.student.descriptor_channels else ("fpn",)
        detail = "descriptor_detail" if self.student.descriptor_detail else "detail"
        reads = ("backbone", detail, "descriptor_head") + pyramid
        return not self.train_only or any(part in self.train_only for part in reads)
