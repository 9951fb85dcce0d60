"""The repeatability benchmark over sequences (SuperPoint paper, Table 3): every pair (1, k) of each
sequence, images resized to the protocol size and homographies rescaled; or, as the assignment's
evaluator (``evaluation/eval_detector.py``) scores, at full resolution (``size=None``)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

from distill.choices import RESIZE
from distill.detection.detector import (ScoreMapDetector, check_resize, check_scales, detect_at_size, fused_scales_note, multi_scale,
                                       scaled_size, working_size)
from distill.eval.repeatability import PairResult, pair_repeatability
from distill.eval.sequences import Sequence
from labels.images import resize_image
from teachers.config import DetectionConfig
from teachers.homographies import resize_transform


@dataclass(frozen=True)
class Protocol:
    size: tuple[int, int] | None = (240, 320)  # H x W every image is resized to; None: full resolution
    top_k: int = 300
    epsilon: float = 3.0
    nms_radius: int = DetectionConfig.nms_radius
    subpixel: bool = False  # refine every detector's points to the vertex of a 3x3 parabola fit
    detect_scale: float = 1.0  # detect on each image resized by this factor, points mapped back to its pixels
    # working resolution (long side, px): a larger image is detected at it, points mapped back (unless detect_scale)
    resize: int | None = None
    scales: tuple[float, ...] = (1.0,)  # also score each image resized by these factors, maps averaged before NMS

    def __post_init__(self) -> None:
        check_resize(self.resize)
        check_scales(self.scales)

    @classmethod
    def named(cls, name: str) -> "Protocol":
        """``standard`` (240x320, 300 points), ``large`` (480x640, 1000 points) or ``ait`` (the
        assignment's evaluator: full resolution, 300 points, 3 px; every detector at the API's working resolution)."""
        presets = {"standard": cls(), "large": cls(size=(480, 640), top_k=1000), "ait": cls(size=None, resize=RESIZE)}
        if name not in presets:
            raise ValueError(f"unknown protocol {name!r}; available: {', '.join(presets)}")
        return presets[name]

    def points(self, detector: ScoreMapDetector, image: np.ndarray) -> np.ndarray:
        """``N x 2`` points of ``detector`` on ``image`` as this protocol scores them: NMS, sub-pixel
        refinement if on, detected at ``detect_scale`` and mapped back to ``image``'s pixels."""
        return detect_at_size(multi_scale(detector, tuple(self.scales)), image, self.detection_size(image.shape[:2]), self.nms_radius,
                              subpixel=self.subpixel)[0]

    def detection_size(self, shape: tuple[int, int]) -> tuple[int, int] | None:
        """The ``H x W`` an image of ``shape`` is detected at (``detect_scale``, sides at least 8; else the working
        resolution ``resize``); ``None``: as it is."""
        if self.detect_scale != 1.0:
            return scaled_size(shape, self.detect_scale)
        return working_size(shape, self.resize)

    def describe(self) -> str:
        size = "full resolution" if self.size is None else f"{self.size[0]}x{self.size[1]}"
        scale = (f", detected at {self.detect_scale:g}x and mapped back" if self.detect_scale != 1.0 else
                 f", detected at a long side of at most {self.resize} px and mapped back" if self.resize else "")
        fused = fused_scales_note(self.scales)
        scale += f", {fused}" if fused else ""
        return (f"{size} grey{scale}, NMS radius {self.nms_radius}{', sub-pixel refinement' if self.subpixel else ''}, "
                f"{self.top_k} best points after the covisibility filter, ε = {self.epsilon:g} px, "
                f"repeatability (c1+c2)/(n1+n2) averaged over pairs")


def rescale_homography(homography: np.ndarray, shape1: tuple[int, int], shape_k: tuple[int, int],
                       size: tuple[int, int]) -> np.ndarray:
    """``R_k · H · R_1^-1`` for images resized from ``shape1`` / ``shape_k`` to ``size`` (all H x W),
    ``R`` the pixel-centre resize transform (:func:`teachers.homographies.resize_transform`)."""
    return resize_transform(shape_k, size) @ homography @ np.linalg.inv(resize_transform(shape1, size))


def resized_sequence(sequence: Sequence, size: tuple[int, int] | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A sequence's images resized to ``size`` (``H x W``) and its homographies ``H_1_k`` rescaled to match
    (:func:`rescale_homography`); ``None``: both as they are (full resolution)."""
    if size is None:
        return sequence.images, sequence.homographies
    shapes = [img.shape[:2] for img in sequence.images]
    return ([resize_image(img, size) for img in sequence.images],
            [rescale_homography(h, shapes[0], shapes[k], size) for k, h in enumerate(sequence.homographies, start=1)])


@dataclass
class SequenceResult:
    name: str
    kind: str
    pairs: list[PairResult] = field(default_factory=list)

    @property
    def repeatability(self) -> float:
        return float(np.mean([p.repeatability for p in self.pairs]))

    @property
    def localisation_error(self) -> float:
        errors = [p.localisation_error for p in self.pairs if not np.isnan(p.localisation_error)]
        return float(np.mean(errors)) if errors else float("nan")


@dataclass
class DetectorResult:
    detector: str
    sequences: list[SequenceResult] = field(default_factory=list)
    ms_per_image: float | None = None
    speed_ratio: float | None = None  # time / SuperPoint's time in the same run

    def pairs(self, kind: str | None = None) -> list[PairResult]:
        return [p for s in self.sequences if kind is None or s.kind == kind for p in s.pairs]

    def repeatability(self, kind: str | None = None) -> float:
        pairs = self.pairs(kind)
        return float(np.mean([p.repeatability for p in pairs])) if pairs else float("nan")

    def localisation_error(self, kind: str | None = None) -> float:
        errors = [p.localisation_error for p in self.pairs(kind) if not np.isnan(p.localisation_error)]
        return float(np.mean(errors)) if errors else float("nan")

    def as_dict(self) -> dict:
        return {
            "detector": self.detector,
            "repeatability": {k or "all": self.repeatability(k) for k in (None, "i", "v")},
            "localisation_error": {k or "all": self.localisation_error(k) for k in (None, "i", "v")},
            "ms_per_image": self.ms_per_image,
            "speed_ratio_to_superpoint": self.speed_ratio,
            "sequences": [{"name": s.name, "kind": s.kind, "repeatability": s.repeatability,
                           "localisation_error": s.localisation_error,
                           "pairs": [asdict(p) for p in s.pairs]} for s in self.sequences],
        }


def evaluate(detectors: list[ScoreMapDetector], sequences: list[Sequence], protocol: Protocol,
             progress: bool = True) -> list[DetectorResult]:
    """Repeatability of every detector on every pair (1, k), one pass over the sequences."""
    results = [DetectorResult(d.name) for d in detectors]
    for sequence in tqdm(sequences, desc="sequences", unit="seq", disable=not progress, dynamic_ncols=True):
        resized, homographies = resized_sequence(sequence, protocol.size)
        sizes = [img.shape[:2] for img in resized]
        for detector, result in zip(detectors, results):
            points = [protocol.points(detector, img) for img in resized]
            seq = SequenceResult(sequence.name, sequence.kind)
            for k, homography in enumerate(homographies, start=1):
                seq.pairs.append(pair_repeatability(points[0], points[k], homography, sizes[0],
                                                    sizes[k], protocol.top_k, protocol.epsilon))
            result.sequences.append(seq)
    return results
