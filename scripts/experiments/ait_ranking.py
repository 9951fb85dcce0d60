"""Why does a student lose under the assignment's evaluator (``--protocol ait``: full resolution, the 300
best points, 3 px)? Its points, or the order of its scores? Keeps one detector's points (NMS 4,
detected at ``--scale`` and mapped back) and ranks them in several ways before the top 300 are scored
(under ``--protocol ait``, the default, or ``standard``, on images resized to 240x320):

- ``own``: the detector's own scores (what ``distill eval hpatches --protocol ait`` measures);
- ``random``: a random order (the floor: what the scores add);
- ``harris``: OpenCV's Harris response at each point in the scored image;
- ``coarse``: the detector's own score times its score map at ``--coarse`` scale (3x3 maximum, resized
  back), a two-scale detector: points from one scale, confidence from the other;
- ``warps`` (with ``--warps M``): the own score times the share of ``M`` random warps of the same image
  (homography, blur, gain and noise; detected alike) whose 300 best points hold one within
  ``--warp-epsilon`` px (of the scored image) of the point's warp: a test-time estimate of how well each
  point repeats, and so of what a self-supervised repeatability ranking could learn from synthetic
  warps (``M`` more passes per image).

It also prints where the scored points of the ``own`` order land: the share of them whose nearest
point on the other side is within 1, 2, 3 (repeated), 3 to 10 (mislocalised) or over 10 px (missed).

    python scripts/experiments/ait_ranking.py --checkpoint distill/weights/student-r4a30mb-desc-fp16.pt --scale 1 --warps 8
    python scripts/experiments/ait_ranking.py --detector harris --scale 1
"""
from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import cKDTree

from distill.choices import AVAILABLE
from distill.detection.by_name import build_detectors
from distill.detection.detector import ScoreMapDetector, detect_at_size, score_map_at
from distill.detection.maps import nearest_pixels
from distill.eval.protocol import Protocol, resized_sequence
from distill.eval.repeatability import covisible_match, inside
from distill.eval.sequences import load_hpatches
from distill.student.detector import checkpoint_detector
from teachers.homographies import HomographyConfig, sample_homography, warp_points

# warps of one image for the ``warps`` ranking: stronger than training's augmentation, milder than HA's
TEST_WARPS = HomographyConfig(patch_ratio=0.8, scaling_amplitude=0.2, perspective_amplitude=0.2, max_angle=math.pi / 8)
DISTANCE_EDGES = (1, 2, 3, 10)  # bins: <= 1, (1, 2], (2, 3], (3, 10], > 10


def at(values: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``values`` at the nearest pixel of each ``N x 2`` point."""
    return values[nearest_pixels(xy, values.shape)]


def repeat_rate(detector: ScoreMapDetector, grey: np.ndarray, xy: np.ndarray, protocol: Protocol, warps: int,
                epsilon: float, top_k: int) -> np.ndarray:
    """Share of ``warps`` random warps of ``grey`` (seeded; blur, gain and Gaussian noise of std 8 on top)
    in which the warp of each point of ``xy`` lies within ``epsilon`` px of one of the ``top_k`` best
    points detected in the warped image, among the warps where it stays inside the frame."""
    h, w = grey.shape
    rng = np.random.default_rng(0)
    hits, seen = np.zeros(len(xy)), np.zeros(len(xy))
    for _ in range(warps):
        homography = sample_homography(rng, h, w, TEST_WARPS)
        warped = cv2.GaussianBlur(cv2.warpPerspective(grey, homography, (w, h)).astype(np.float32), (0, 0), rng.uniform(0.3, 1.5))
        warped = np.clip(warped * rng.uniform(0.6, 1.4) + rng.normal(0, 8, warped.shape), 0, 255).astype(np.uint8)
        found = detect_at_size(detector, warped, protocol.detection_size(grey.shape), protocol.nms_radius, top_k)[0]
        moved = warp_points(xy, homography)
        stays = inside(moved, (h, w))
        nearest = cKDTree(found).query(moved)[0] if len(found) else np.full(len(xy), np.inf)
        seen += stays
        hits += stays & (nearest <= epsilon)
    return hits / np.maximum(seen, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a student checkpoint; default: --detector")
    parser.add_argument("--detector", default="superpoint", choices=AVAILABLE, help="a named detector (without --checkpoint)")
    parser.add_argument("--root", type=Path, default=Path("../shared/data/hpatches-real"))
    parser.add_argument("--protocol", default="ait", choices=("ait", "standard"), help="the scoring protocol")
    parser.add_argument("--scale", type=float, default=1.0, help="detect on images resized by this factor")
    parser.add_argument("--coarse", type=float, default=0.5, help="the scale of the coarse score map")
    parser.add_argument("--warps", type=int, default=0, help="random warps per image for the warps ranking (0: off)")
    parser.add_argument("--warp-epsilon", type=float, default=2.0, help="px (of the scored image) for a point to repeat in a warp")
    args = parser.parse_args()
    detector = checkpoint_detector(Path(args.checkpoint)) if args.checkpoint else build_detectors([args.detector])[0]
    protocol = replace(Protocol.named(args.protocol), detect_scale=args.scale)
    coarse_protocol = replace(protocol, detect_scale=args.coarse)
    rankings = ("own", "random", "harris", "coarse") + (("warps",) if args.warps else ())
    results: dict[tuple[str, str], list[float]] = {}
    distances: dict[str, list[np.ndarray]] = {"i": [], "v": []}
    for sequence in load_hpatches(args.root):
        images, homographies = resized_sequence(sequence, protocol.size)
        ranked: dict[str, list[np.ndarray]] = {name: [] for name in rankings}
        for grey in images:
            xy, scores = detect_at_size(detector, grey, protocol.detection_size(grey.shape), protocol.nms_radius)
            coarse = score_map_at(detector, grey, coarse_protocol.detection_size(grey.shape))
            keys = {"own": scores, "random": np.random.default_rng(0).random(len(xy)),
                    "harris": at(cv2.cornerHarris(grey.astype(np.float32), 4, 3, 0.04), xy), "coarse": scores * at(coarse, xy)}
            if args.warps:
                keys["warps"] = scores * (repeat_rate(detector, grey, xy, protocol, args.warps, args.warp_epsilon, protocol.top_k) + 1e-3)
            for name, key in keys.items():
                ranked[name].append(xy[np.argsort(-key, kind="stable")])
        for name, points in ranked.items():
            for k, homography in enumerate(homographies, start=1):
                match = covisible_match(points[0], points[k], homography, images[0].shape[:2], images[k].shape[:2],
                                        protocol.top_k, protocol.epsilon)
                nearest = np.concatenate([match.nearest1, match.nearest2])
                results.setdefault((sequence.kind, name), []).append(float(np.mean(nearest <= protocol.epsilon)) if len(nearest) else 0.0)
                if name == "own":
                    distances[sequence.kind].append(nearest)
    label = args.checkpoint or args.detector
    print(f"{label} at scale {args.scale:g} ({protocol.describe()}; coarse map at {args.coarse:g})\n")
    print("| ranking | rep. i | rep. v |\n|---|---|---|")
    for name in rankings:
        print(f"| {name} | {np.mean(results[('i', name)]):.3f} | {np.mean(results[('v', name)]):.3f} |")
    print("\nWhere the own order's scored points land (distance to the other side's nearest, px):\n")
    print("| kind | ≤ 1 | 1–2 | 2–3 | 3–10 | > 10 |\n|---|---|---|---|---|---|")
    for kind, values in distances.items():
        bins = np.searchsorted(DISTANCE_EDGES, np.concatenate(values), side="left")
        shares = np.bincount(bins, minlength=len(DISTANCE_EDGES) + 1) / max(1, len(bins))
        print(f"| {kind} | " + " | ".join(f"{share:.3f}" for share in shares) + " |")


if __name__ == "__main__":
    main()
