"""The matching benchmark (as LightGlue's and glue-factory's HPatches benchmarks): every pair (1, k) of
each sequence resized to the protocol size, keypoints and descriptors extracted, matched, a homography
estimated by RANSAC (OpenCV's USAC_MAGSAC, 3 px, fixed seed) and scored by the mean error of the four
image corners; AUC of that error at 1, 3 and 5 px (with ``ransac_draws`` N > 1, the mean over N estimates of each
pair, from the matches in N orders, so that the sampler draws other minimal sets), mean matching accuracy at 1-10 px,
matches per pair, and time per pair for extraction and for matching. Methods are ``extractor+matcher`` names:
``superpoint+lightglue``, ``superpoint+mnn``, ``sift+ratio``, ``orb+hamming``, and for a student with a
descriptor head (``--checkpoint``) ``student+lightglue``, ``student+mnn``: SuperPoint and the students
are run by the same detectors as every other command (keypoints and their descriptors)."""
from __future__ import annotations

import functools
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
import torch
from tqdm import tqdm

from distill.choices import FILTER_THRESHOLD, MATCH_RESIZE, METHODS, STUDENT_METHODS
from distill.detection.by_name import build_detectors
from distill.detection.detector import (ScoreMapDetector, check_resize, check_scales, describe, detect, multi_scale,
                                       to_original_pixels, working_size)
from distill.eval.protocol import resized_sequence
from distill.eval.sequences import Sequence
from labels.images import resize_image
from teachers.config import (LIGHTGLUE_DEPTH_CONFIDENCE, LIGHTGLUE_WIDTH_CONFIDENCE, DetectionConfig, check_filter_threshold,
                             check_lightglue_confidence)
from teachers.homographies import warp_points
from teachers.lightglue import load_lightglue

MMA_THRESHOLDS = tuple(range(1, 11))
AUC_THRESHOLDS = (1, 3, 5)


@dataclass(frozen=True)
class MatchingProtocol:
    size: tuple[int, int] = (480, 640)  # H x W every image is resized to
    max_keypoints: int = 1024
    nms_radius: int = DetectionConfig.nms_radius
    ransac_px: float = 3.0  # USAC_MAGSAC's sampling is seeded by OpenCV itself, the same on every run
    # homographies per pair, from the matches in that many orders (the first LightGlue's own, the others seeded
    # permutations): AUC is the mean over them, which one draw's luck moves less (on 30 pairs one draw moved it by 0.01)
    ransac_draws: int = 1
    subpixel: bool = False  # networks' keypoints refined to the vertex of a parabola through their 3x3 neighbourhood
    scales: tuple[float, ...] = (1.0,)  # networks' keypoints from their maps at these factors averaged before NMS
    # working resolution (long side, px): a network detects and describes a larger image resized to it, its keypoints
    # mapped back to the image's pixels (as distill.Detector); None: at the image's own size
    resize: int | None = MATCH_RESIZE
    # LightGlue keeps a mutual match only above this confidence (its filter_threshold), for every method; None: each
    # network's own (a released student's, chosen on validation photos, or its checkpoint's), else LightGlue's default
    filter_threshold: float | None = None
    # LightGlue's early stopping (depth_confidence; its default 0.95) and point pruning (width_confidence; 0.99), its
    # settings for speed; -1: off, all its layers on all points, as Glue Factory's benchmarks run it, so that the figures
    # depend neither on the device (kornia prunes on the CPU always, on a GPU only above 1024 points) nor on how early
    # each network's features let it stop (docs/matching.md)
    lightglue_depth_confidence: float = -1
    lightglue_width_confidence: float = -1

    def __post_init__(self) -> None:
        check_scales(self.scales)
        check_resize(self.resize)
        check_filter_threshold(self.filter_threshold)
        for name in ("lightglue_depth_confidence", "lightglue_width_confidence"):
            check_lightglue_confidence(name, getattr(self, name))
        if isinstance(self.ransac_draws, bool) or not isinstance(self.ransac_draws, int) or self.ransac_draws < 1:
            raise ValueError(f"ransac_draws must be a whole number >= 1, got {self.ransac_draws!r}")


# LightGlue's own early stopping and point pruning, for its speed (``lightglue_adaptive=True`` of distill.match)
ADAPTIVE_LIGHTGLUE = {"lightglue_depth_confidence": LIGHTGLUE_DEPTH_CONFIDENCE, "lightglue_width_confidence": LIGHTGLUE_WIDTH_CONFIDENCE}


@dataclass
class Features:
    keypoints: np.ndarray  # N x 2 float32 (x, y)
    descriptors: np.ndarray  # N x D (float32, or uint8 for binary descriptors)
    image_size: tuple[int, int] | None = None  # H x W of the image they come from (LightGlue normalises by it)


@dataclass
class PairMatch:
    sequence: str
    kind: str
    pair: int
    matches: int
    corner_error: float  # mean distance (px) of the 4 corners warped by the estimate and by the truth; inf without one
    accuracy: list[float]  # share of matches within each MMA threshold (px) of the truth
    extract_ms: float
    match_ms: float
    # the corner error of every RANSAC draw (the protocol's ransac_draws; the first is corner_error)
    corner_errors: list[float] = field(default_factory=list)

    def errors(self) -> list[float]:
        return self.corner_errors or [self.corner_error]


@dataclass
class MethodResult:
    method: str
    pairs: list[PairMatch] = field(default_factory=list)
    filter_threshold: float | None = None  # LightGlue's confidence threshold for this method's matches; None: no LightGlue

    def auc(self, threshold: float, kind: str | None = None) -> float | None:
        """AUC over the pairs (of ``kind``, ``i`` or ``v``), the mean over RANSAC draws; None when there are none."""
        errors = [p.errors() for p in self.pairs if kind in (None, p.kind)]
        return mean_auc(errors, threshold) if errors else None

    def as_dict(self) -> dict:
        ms = [p.extract_ms for p in self.pairs]
        return {"method": self.method, "filter_threshold": self.filter_threshold,
                "auc": {f"{t}px": self.auc(t) for t in AUC_THRESHOLDS},
                "auc_i": {f"{t}px": self.auc(t, "i") for t in AUC_THRESHOLDS},
                "auc_v": {f"{t}px": self.auc(t, "v") for t in AUC_THRESHOLDS},
                "mma": {f"{t}px": float(np.mean([p.accuracy[i] for p in self.pairs])) for i, t in enumerate(MMA_THRESHOLDS)},
                "matches": float(np.mean([p.matches for p in self.pairs])),
                "extract_ms_per_image": statistics.median(ms) / 2, "match_ms_per_pair": statistics.median(p.match_ms for p in self.pairs),
                "pairs": [vars(p) for p in self.pairs]}


def pose_auc(errors: list[float], threshold: float) -> float:
    """Area under the recall-vs-error curve up to ``threshold``, divided by ``threshold`` (LightGlue's
    ``cumulative_recall`` AUC): 1 when every error is 0, 0 when none is below the threshold."""
    errors = np.sort(np.asarray(errors, dtype=np.float64))
    recall = np.arange(1, len(errors) + 1) / len(errors)
    errors, recall = np.r_[0.0, errors], np.r_[0.0, recall]
    last = np.searchsorted(errors, threshold)
    e = np.r_[errors[:last], threshold]
    r = np.r_[recall[:last], recall[last - 1]]
    return float(np.trapezoid(r, x=e) / threshold)


def mean_auc(errors, threshold: float) -> float:
    """:func:`pose_auc` of corner errors ``N`` (one draw) or ``N x D`` (pairs by RANSAC draws): the mean over the draws
    of each draw's AUC over the pairs."""
    errors = np.asarray(errors, np.float64).reshape(len(errors), -1)
    return float(np.mean([pose_auc(errors[:, draw], threshold) for draw in range(errors.shape[1])]))


def corner_error(estimate: np.ndarray | None, truth: np.ndarray, size: tuple[int, int]) -> float:
    if estimate is None:
        return float("inf")
    h, w = size
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    return float(np.linalg.norm(warp_points(corners, estimate) - warp_points(corners, truth), axis=1).mean())


def draw_orders(matches: int, draws: int) -> list[np.ndarray]:
    """The orders in which RANSAC sees ``matches`` matches, one per draw: as given, then permutations seeded 1, 2, ..."""
    return [np.arange(matches)] + [np.random.default_rng(draw).permutation(matches) for draw in range(1, draws)]


def homography_inliers(points0: np.ndarray, points1: np.ndarray, protocol: MatchingProtocol) -> tuple[np.ndarray | None, np.ndarray]:
    """The homography mapping ``points0`` (N x 2) to ``points1`` by USAC_MAGSAC (``ransac_px``; deterministic: USAC
    seeds its own sampler, which ``cv2.setRNGSeed`` does not reach) and its inlier mask (N booleans); ``(None, all
    False)`` with fewer than 4 matches or no estimate."""
    if len(points0) < 4:
        return None, np.zeros(len(points0), bool)
    estimate, mask = cv2.findHomography(points0.astype(np.float64), points1.astype(np.float64), cv2.USAC_MAGSAC,
                                        protocol.ransac_px, confidence=0.99999, maxIters=10000)
    if estimate is None:
        return None, np.zeros(len(points0), bool)
    return estimate, mask.ravel().astype(bool)


# extractors: grey uint8 H x W -> Features -------------------------------------------------------

def network_extractor(detector: ScoreMapDetector, protocol: MatchingProtocol,
                      describer: ScoreMapDetector | None = None) -> Callable[[np.ndarray], Features]:
    """Keypoints (the best after NMS, 4 px from the border as LightGlue's SuperPoint; from the protocol's
    ``scales``) and their descriptors: the detector's own, of the image itself, or ``describer``'s sampled at the
    detector's keypoints (which separates what the keypoints and what the descriptors of a method contribute to
    its matching)."""
    describer = describer or detector
    if describer.describe is None:
        raise ValueError(f"{describer.name} has no descriptors: train a student with --set student.descriptor_dim=256")
    keypoints = multi_scale(detector, tuple(protocol.scales))

    def extract(grey: np.ndarray) -> Features:
        work = working_size(grey.shape, protocol.resize)
        seen = grey if work is None else resize_image(grey, work)
        xy, _ = detect(keypoints, seen, protocol.nms_radius, protocol.max_keypoints, protocol.subpixel, border=4)
        described = describe(describer, seen, xy)
        return Features(xy if work is None else to_original_pixels(xy, grey.shape, seen.shape), described, grey.shape[:2])

    return extract


def opencv_extractor(name: str, protocol: MatchingProtocol) -> Callable[[np.ndarray], Features]:
    detector = cv2.SIFT_create(nfeatures=protocol.max_keypoints) if name == "sift" else cv2.ORB_create(nfeatures=protocol.max_keypoints)

    def extract(grey: np.ndarray) -> Features:
        keypoints, descriptors = detector.detectAndCompute(grey, None)
        xy = np.array([k.pt for k in keypoints], np.float32).reshape(-1, 2)
        return Features(xy, descriptors if descriptors is not None else np.zeros((0, 32), np.uint8))

    return extract


# matchers: (Features, Features, image size) -> (K x 2 index pairs, K scores, higher is better) ---------------

NO_MATCHES = (np.zeros((0, 2), np.int64), np.zeros(0, np.float32))


def mutual_nearest(a: Features, b: Features, _size=None) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours of L2-normalised descriptors (largest dot product, which is each match's score)."""
    if len(a.keypoints) == 0 or len(b.keypoints) == 0:
        return NO_MATCHES
    similarity = a.descriptors @ b.descriptors.T
    forward, backward = similarity.argmax(1), similarity.argmax(0)
    mutual = backward[forward] == np.arange(len(forward))
    pairs = np.column_stack([np.nonzero(mutual)[0], forward[mutual]])
    return pairs, similarity[pairs[:, 0], pairs[:, 1]].astype(np.float32)


def opencv_matcher(name: str) -> Callable[[Features, Features, tuple], tuple[np.ndarray, np.ndarray]]:
    """``ratio``: SIFT with Lowe's ratio test at 0.8; ``hamming``: binary descriptors, cross-checked; scores
    are the descriptor distances negated."""
    def match(a: Features, b: Features, _size=None) -> tuple[np.ndarray, np.ndarray]:
        if len(a.keypoints) < 2 or len(b.keypoints) < 2:
            return NO_MATCHES
        if name == "ratio":
            pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(a.descriptors, b.descriptors, k=2)
            kept = [m for m, n in (p for p in pairs if len(p) == 2) if m.distance < 0.8 * n.distance]
        else:
            kept = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(a.descriptors, b.descriptors)
        return (np.array([[m.queryIdx, m.trainIdx] for m in kept], np.int64).reshape(-1, 2),
                -np.array([m.distance for m in kept], np.float32))

    return match


def lightglue_matcher(device: str = "cpu", filter_threshold: float = FILTER_THRESHOLD,
                      protocol: MatchingProtocol = MatchingProtocol()) -> Callable[[Features, Features, tuple],
                                                                                   tuple[np.ndarray, np.ndarray]]:
    """kornia's LightGlue with the checksum-verified SuperPoint LightGlue weights, keeping the mutual matches whose
    confidence exceeds ``filter_threshold`` (the function's attribute of that name); scores are its match confidences.
    Its early stopping and point pruning are the ``protocol``'s (off by default: all layers on all points)."""
    matcher = load_lightglue(device=device, filter_threshold=filter_threshold,
                             depth_confidence=protocol.lightglue_depth_confidence,
                             width_confidence=protocol.lightglue_width_confidence)

    @torch.inference_mode()
    def match(a: Features, b: Features, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        data = {f"image{i}": {"keypoints": torch.from_numpy(f.keypoints)[None].to(device),
                              "descriptors": torch.from_numpy(f.descriptors)[None].to(device),
                              "image_size": torch.tensor([(f.image_size or size)[::-1]], device=device)} for i, f in enumerate((a, b))}
        out = matcher(data)
        return out["matches"][0].cpu().numpy().astype(np.int64), out["scores"][0].float().cpu().numpy()

    match.filter_threshold = filter_threshold
    return match


def lightglue_matchers(device: str = "cpu", protocol: MatchingProtocol = MatchingProtocol()) -> Callable[[float], Callable]:
    """``threshold -> lightglue_matcher(device, threshold, protocol)``, each loaded once."""
    return functools.cache(lambda threshold: lightglue_matcher(device, threshold, protocol))


def lightglue_threshold(network: ScoreMapDetector, protocol: MatchingProtocol) -> float:
    """The confidence LightGlue's matches of ``network`` must exceed: the protocol's when it sets one, else the
    network's own (a released student's, or its checkpoint's), else LightGlue's default."""
    for threshold in (protocol.filter_threshold, network.filter_threshold):
        if threshold is not None:
            return threshold
    return FILTER_THRESHOLD


def build_methods(names: list[str], device: str = "cpu", protocol: MatchingProtocol = MatchingProtocol(),
                  students: list[ScoreMapDetector] = (), superpoint: ScoreMapDetector | None = None) -> dict:
    """``{name: (extract, match)}`` for ``extractor+matcher`` names (``METHODS``; ``STUDENT_METHODS`` with
    ``students``, detectors with descriptors: one student's methods are named ``student+MATCHER``, several
    students' ``<student name>+MATCHER``); ``superpoint``: the SuperPoint the ``superpoint+`` methods run
    (default: in PyTorch on ``device``). LightGlue keeps each network's matches above :func:`lightglue_threshold`,
    which the matcher's ``filter_threshold`` attribute names."""
    unknown = [n for n in names if n not in METHODS + (STUDENT_METHODS if students else [])]
    if unknown:
        raise ValueError(f"unknown matching method(s) {', '.join(unknown)}; available: {', '.join(METHODS)}"
                         f"{', ' + ', '.join(STUDENT_METHODS) + ' (with --checkpoint)'}")
    networks = {"student": students[0]} if len(students) == 1 else {student.name: student for student in students}
    if any(n.startswith("superpoint") for n in names):
        networks["superpoint"] = superpoint or build_detectors(["superpoint"], device)[0]
    lightglue = lightglue_matchers(device, protocol)

    def matcher_for(matcher: str, network: ScoreMapDetector | None) -> Callable:
        if matcher != "lightglue":
            return mutual_nearest if matcher == "mnn" else opencv_matcher(matcher)
        return lightglue(lightglue_threshold(network, protocol))

    methods = {}
    for name in names:
        extractor, matcher = name.split("+")
        if extractor == "student" and len(students) > 1:
            methods.update({f"{student.name}+{matcher}": (network_extractor(student, protocol), matcher_for(matcher, student))
                            for student in students})
            continue
        network = networks.get(extractor)
        extract = network_extractor(network, protocol) if network is not None else opencv_extractor(extractor, protocol)
        methods[name] = (extract, matcher_for(matcher, network))
    return methods


def evaluate_matching(methods: dict, sequences: list[Sequence], protocol: MatchingProtocol = MatchingProtocol(),
                      progress: bool = True) -> list[MethodResult]:
    results = {name: MethodResult(name, filter_threshold=getattr(match, "filter_threshold", None))
               for name, (_, match) in methods.items()}
    for sequence in tqdm(sequences, desc="sequences", unit="seq", disable=not progress, dynamic_ncols=True):
        images, truths = resized_sequence(sequence, protocol.size)
        for name, (extract, match) in methods.items():
            start = time.perf_counter()
            features = [extract(img) for img in images]
            extract_ms = 1000 * (time.perf_counter() - start) / len(images) * 2  # per pair: two images
            for k, truth in enumerate(truths, start=1):
                start = time.perf_counter()
                pairs, _ = match(features[0], features[k], protocol.size)
                match_ms = 1000 * (time.perf_counter() - start)
                p0, p1 = features[0].keypoints[pairs[:, 0]], features[k].keypoints[pairs[:, 1]]
                reprojection = np.linalg.norm(warp_points(p0, truth) - p1, axis=1) if len(pairs) else np.zeros(0)
                accuracy = [float((reprojection <= t).mean()) if len(pairs) else 0.0 for t in MMA_THRESHOLDS]
                errors = [corner_error(homography_inliers(p0[order], p1[order], protocol)[0], truth, protocol.size)
                          for order in draw_orders(len(pairs), protocol.ransac_draws)]
                results[name].pairs.append(PairMatch(sequence.name, sequence.kind, k + 1, len(pairs), errors[0], accuracy,
                                                     extract_ms, match_ms, errors if protocol.ransac_draws > 1 else []))
    return list(results.values())
