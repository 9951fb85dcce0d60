"""Matching two images: keypoints and descriptors from a :class:`distill.Detector`, matches by LightGlue (the
stock SuperPoint weights) or mutual nearest neighbours, and a homography fit by RANSAC, in one call, as
``distill match`` and ``distill eval matching`` do it.

    import distill
    result = distill.match("a.jpg", "b.jpg")                       # SuperPoint + LightGlue by default
    result = distill.Matcher("pretrained", "lightglue")("a.jpg", "b.jpg")   # a student with descriptors
    result.points0, result.points1, result.scores, result.homography, result.inliers
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from distill.api import Detector, resolve_device
from distill.choices import MATCH_RESIZE, MATCHERS
from distill.detection.images import Image, to_grey_uint8


@dataclass
class Matches:
    """The matches of a pair: ``keypoints0`` N0 x 2 and ``keypoints1`` N1 x 2 (x, y, each image's own pixels),
    ``matches`` M x 2 (indices into them), ``scores`` M (LightGlue's confidence, or the descriptors' cosine
    similarity), ``homography`` 3 x 3 mapping image 0's pixels to image 1's (None when RANSAC finds none) and
    ``inliers`` M booleans (its inliers within ``ransac_px``)."""

    keypoints0: np.ndarray
    keypoints1: np.ndarray
    matches: np.ndarray
    scores: np.ndarray
    homography: np.ndarray | None
    inliers: np.ndarray

    def __repr__(self) -> str:
        found = "none" if self.homography is None else f"{int(self.inliers.sum())} inliers"
        return (f"Matches({len(self.matches)} matches of {len(self.keypoints0)} and {len(self.keypoints1)} keypoints, "
                f"homography: {found})")

    @property
    def points0(self) -> np.ndarray:
        """M x 2: the matched points of image 0."""
        return self.keypoints0[self.matches[:, 0]]

    @property
    def points1(self) -> np.ndarray:
        """M x 2: the matched points of image 1."""
        return self.keypoints1[self.matches[:, 1]]

    def save(self, path: Path) -> list[Path]:
        """``path.npz`` (every array) and ``path.json`` (the counts and the homography), beside each other."""
        arrays = {k: v for k, v in asdict(self).items() if v is not None}
        np.savez(path.with_suffix(".npz"), **arrays)
        summary = {"keypoints": [len(self.keypoints0), len(self.keypoints1)], "matches": len(self.matches),
                   "inliers": int(self.inliers.sum()),
                   "homography": None if self.homography is None else self.homography.tolist()}
        path.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
        return [path.with_suffix(".npz"), path.with_suffix(".json")]


class Matcher:
    """A reusable pair matcher: ``detector`` (a :class:`Detector`, or anything :meth:`Detector.load` takes;
    it needs descriptors), ``matcher`` ``lightglue`` or ``mnn``, the ``top_k`` best keypoints of each image
    (after NMS, 4 px from the border as LightGlue's SuperPoint), the RANSAC threshold ``ransac_px``
    (USAC_MAGSAC, fixed seed), the ``scales`` whose score maps are averaged before NMS (``distill.choices.MULTISCALE``:
    keypoints that repeat better across a change of view, for about twice the extraction time; the descriptors
    stay the image's own) and the working resolution ``resize`` (as :class:`Detector`: an image whose long side
    exceeds it is detected and described at that long side, its keypoints returned in its own pixels; ``None``: at
    its own size) and, for LightGlue, ``filter_threshold``: the confidence a mutual match must exceed; by default
    the detector's own (:attr:`Detector.filter_threshold`: a release's, chosen on validation photos, 0.7 for
    ``default`` and 0.5 for ``fast``, or one its checkpoint stores), else LightGlue's default, 0.1 (docs/matching.md), and
    ``lightglue_adaptive``: LightGlue's early stopping and point pruning (faster; off by default, as
    ``distill eval matching`` measures: all layers on all points, the same matches on a CPU and a GPU). Matching keeps more pixels than detection
    (``distill.choices.MATCH_RESIZE``, 1024, LightGlue's extractors' default, against :class:`Detector`'s 512): at
    480x640 a long side of 512 lowered the homography AUC of the students and of SuperPoint alike."""

    def __init__(self, detector: Detector | str | Path = "superpoint", matcher: str = "lightglue", top_k: int = 1024,
                 ransac_px: float = 3.0, device: str = "auto", scales: tuple[float, ...] = (1.0,),
                 resize: int | None = MATCH_RESIZE, filter_threshold: float | None = None, lightglue_adaptive: bool = False) -> None:
        from distill.eval.matching import (ADAPTIVE_LIGHTGLUE, MatchingProtocol, lightglue_matcher, lightglue_threshold, mutual_nearest,
                                           network_extractor)

        if matcher not in MATCHERS:
            raise ValueError(f"matcher must be one of {', '.join(MATCHERS)}, got {matcher!r}")
        if top_k < 1 or not ransac_px >= 0:
            raise ValueError(f"top_k must be at least 1 and ransac_px >= 0, got {top_k} and {ransac_px}")
        device = resolve_device(device)
        self.detector = detector if isinstance(detector, Detector) else Detector.load(detector, device)
        self.protocol = MatchingProtocol(max_keypoints=top_k, ransac_px=ransac_px, scales=tuple(scales), resize=resize,
                                         filter_threshold=filter_threshold,
                                         **(ADAPTIVE_LIGHTGLUE if lightglue_adaptive else {}))  # ValueError on bad scales, resize or threshold
        self.extract = network_extractor(self.detector.detector, self.protocol)  # ValueError without descriptors
        self.filter_threshold = lightglue_threshold(self.detector.detector, self.protocol) if matcher == "lightglue" else None
        self.match = (lightglue_matcher(device, self.filter_threshold, self.protocol) if matcher == "lightglue"
                      else mutual_nearest)
        self.name = f"{self.detector.name} + {matcher}"

    def __call__(self, image0: Image, image1: Image) -> Matches:
        from distill.eval.matching import homography_inliers

        (grey0,), _ = to_grey_uint8(image0)
        (grey1,), _ = to_grey_uint8(image1)
        a, b = self.extract(grey0), self.extract(grey1)
        pairs, scores = self.match(a, b, grey0.shape[:2])
        estimate, inliers = homography_inliers(a.keypoints[pairs[:, 0]], b.keypoints[pairs[:, 1]], self.protocol)
        return Matches(a.keypoints, b.keypoints, pairs, scores, estimate, inliers)


def match(image0: Image, image1: Image, detector: Detector | str | Path = "superpoint", matcher: str = "lightglue",
          top_k: int = 1024, ransac_px: float = 3.0, device: str = "auto", scales: tuple[float, ...] = (1.0,),
          resize: int | None = MATCH_RESIZE, filter_threshold: float | None = None, lightglue_adaptive: bool = False) -> Matches:
    """The matches of two images (:class:`Matcher`; build one to match many pairs with the same networks)."""
    return Matcher(detector, matcher, top_k, ransac_px, device, scales, resize, filter_threshold, lightglue_adaptive)(image0, image1)
