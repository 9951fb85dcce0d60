"""The teachers' configuration dataclasses, apart from the code that runs them: importing them costs no
torch, so the command line shows its options and defaults at once. Every field is part of what it
configures (a label store's hash for adaptation and pairs)."""
from __future__ import annotations

from dataclasses import dataclass, field

# pi/2 and pi/8 to 7 decimals: label stores name themselves by a hash of these exact digits
HALF_PI = 1.5707963
EIGHTH_PI = 0.3926991


def check_lightglue_confidence(name: str, value: float) -> None:
    """LightGlue's ``depth_confidence`` / ``width_confidence`` is -1 (off: all its layers on all points) or in (0, 1)
    (a ValueError names the key and what was given)."""
    if not (value == -1 or 0 < value < 1):
        raise ValueError(f"{name} must be -1 (off) or in (0, 1), got {value!r}")


def check_filter_threshold(value: float | None) -> None:
    """LightGlue's ``filter_threshold`` is a match confidence in [0, 1), or None where a default applies (a ValueError
    names what was given)."""
    if value is not None and not 0 <= value < 1:
        raise ValueError(f"filter_threshold is a match confidence in [0, 1), got {value}")


@dataclass(frozen=True)
class HomographyConfig:
    patch_ratio: float = 0.85  # side of the centred patch that becomes the warped frame
    scaling_amplitude: float = 0.2  # std of the scale factor around 1 (truncated at 2 std)
    perspective_amplitude: float = 0.2  # std of the corner displacement, as a fraction of the side
    max_angle: float = HALF_PI  # rotation drawn uniformly in [-max_angle, max_angle] (radians)
    translation: bool = True  # shift the patch uniformly within the image (artefacts allowed)


@dataclass(frozen=True)
class DetectionConfig:
    """How a network's probability map becomes keypoints when it is used (eval, detect, validation).
    A trained student carries its own in its checkpoint; label stores use the labelling threshold of
    their homographic adaptation instead (part of the store's hash)."""

    threshold: float = 0.001  # keep NMS maxima with probability above this
    nms_radius: int = 4

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ValueError(f"detection.threshold must be >= 0, got {self.threshold}")
        if self.nms_radius < 0:
            raise ValueError(f"detection.nms_radius must be >= 0, got {self.nms_radius}")


@dataclass(frozen=True)
class AdaptationConfig:
    """Every field changes the labels (and so the label store's name)."""

    num_homographies: int = 100  # N, the identity included
    aggregation: str = "mean"  # "mean" or "max" over the valid views
    border_margin: int = 3  # pixels eroded from each warp's content boundary (black-border artefacts)
    threshold: float = 0.015  # keypoint threshold on the aggregated heatmap
    nms_radius: int = 4
    homographies: HomographyConfig = field(default_factory=HomographyConfig)

    def __post_init__(self) -> None:
        if self.aggregation not in ("mean", "max"):
            raise ValueError(f"adaptation.aggregation must be 'mean' or 'max', got {self.aggregation!r}")
        if self.num_homographies < 1:
            raise ValueError(f"adaptation.num_homographies must be at least 1 (the identity), got {self.num_homographies}")


# LightGlue keeps a mutual match above this confidence: its authors' default (kornia's LightGlue too)
LIGHTGLUE_FILTER_THRESHOLD = 0.1
LIGHTGLUE_DEPTH_CONFIDENCE = 0.95  # LightGlue's early stopping (its default; -1: off)
LIGHTGLUE_WIDTH_CONFIDENCE = 0.99  # its point pruning (its default; -1: off)


@dataclass(frozen=True)
class PairConfig:
    top_k: int = 1024  # SuperPoint keypoints per image
    detection_threshold: float = 0.005
    filter_threshold: float = LIGHTGLUE_FILTER_THRESHOLD  # LightGlue match confidence
    # LightGlue's early stopping and point pruning: -1, off (all its layers on all points), so that a store's matches
    # are the same on a CPU and a GPU (kornia prunes on the CPU always, on a GPU only above 1024 points), as the
    # matching protocol runs it
    depth_confidence: float = -1
    width_confidence: float = -1
    consistency_px: float = 3.0  # a match is consistent if H maps its first point within this of the second
    homography: HomographyConfig = field(default_factory=lambda: HomographyConfig(max_angle=EIGHTH_PI))

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError(f"lightglue.top_k must be at least 1, got {self.top_k}")
        check_lightglue_confidence("lightglue.depth_confidence", self.depth_confidence)
        check_lightglue_confidence("lightglue.width_confidence", self.width_confidence)
