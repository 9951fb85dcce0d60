"""Why does a student lose under the assignment's evaluator (``--protocol ait``: full resolution, the 300
best points, 3 px)? Its points, or the order of its scores? Keeps one detector's points (NMS 4,
detected at ``--scale`` and mapped back) and ranks them in several ways before the top 300 are scored:

- ``own``: the detector's own scores (what ``distill eval hpatches --protocol ait`` measures);
- ``random``: a random order (the floor: what the scores add);
- ``harris``: OpenCV's Harris response at each point in the full-resolution image;
- ``coarse``: the detector's own score times its score map at ``--coarse`` scale (3x3 maximum, resized
  back), a two-scale detector: points from one scale, confidence from the other.

    python scripts/ait_ranking.py --checkpoint distill/weights/student-r3L-desc-fp16.pt --scale 1
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from distill.eval.detectors import build_detectors, detect_at_size, nearest_pixels
from distill.eval.protocol import Protocol
from distill.eval.repeatability import pair_repeatability
from distill.eval.sequences import load_hpatches
from distill.student.detector import checkpoint_detector
from labels.images import resize_image

RANKINGS = ("own", "random", "harris", "coarse")


def at(values: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``values`` at the nearest pixel of each ``N x 2`` point."""
    return values[nearest_pixels(xy, values.shape)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a student checkpoint; default: SuperPoint")
    parser.add_argument("--root", type=Path, default=Path("../shared/data/hpatches-real"))
    parser.add_argument("--scale", type=float, default=1.0, help="detect on images resized by this factor")
    parser.add_argument("--coarse", type=float, default=0.5, help="the scale of the coarse score map")
    args = parser.parse_args()
    detector = checkpoint_detector(Path(args.checkpoint)) if args.checkpoint else build_detectors(["superpoint"])[0]
    protocol = replace(Protocol.named("ait"), detect_scale=args.scale)
    coarse_protocol = replace(protocol, detect_scale=args.coarse)
    results: dict[tuple[str, str], list[float]] = {}
    for sequence in load_hpatches(args.root):
        ranked: dict[str, list[np.ndarray]] = {name: [] for name in RANKINGS}
        for grey in sequence.images:
            xy, scores = detect_at_size(detector, grey, protocol.detection_size(grey.shape), protocol.nms_radius)
            coarse = detector.score_map(resize_image(grey, coarse_protocol.detection_size(grey.shape))).numpy().astype(np.float32)
            coarse = cv2.resize(cv2.dilate(coarse, np.ones((3, 3), np.uint8)), grey.shape[::-1], interpolation=cv2.INTER_LINEAR)
            keys = {"own": scores, "random": np.random.default_rng(0).random(len(xy)),
                    "harris": at(cv2.cornerHarris(grey.astype(np.float32), 4, 3, 0.04), xy), "coarse": scores * at(coarse, xy)}
            for name, key in keys.items():
                ranked[name].append(xy[np.argsort(-key, kind="stable")])
        for name, points in ranked.items():
            for k, homography in enumerate(sequence.homographies, start=1):
                pair = pair_repeatability(points[0], points[k], homography, sequence.images[0].shape[:2],
                                          sequence.images[k].shape[:2], protocol.top_k, protocol.epsilon)
                results.setdefault((sequence.kind, name), []).append(pair.repeatability)
    print(f"{args.checkpoint or 'superpoint'} at scale {args.scale:g} ({protocol.describe()}; coarse map at {args.coarse:g})\n")
    print("| ranking | rep. i | rep. v |\n|---|---|---|")
    for name in RANKINGS:
        print(f"| {name} | {np.mean(results[('i', name)]):.3f} | {np.mean(results[('v', name)]):.3f} |")


if __name__ == "__main__":
    main()
