"""Does a detector lose a point because it no longer finds it, or because the point falls out of its best
``top_k``? For every pair (1, k) of each sequence, the ``top_k`` best points of image 1 are warped into image k
and each is checked against three sets of image k's points (NMS maxima above the detector's threshold):

- ``top_k``: its ``top_k`` best (what the protocol scores; the share is one side of the repeatability);
- ``2 top_k``: its ``2 top_k`` best (a point just below the cut);
- ``any``: every maximum (the point is still found, at any rank).

``any`` minus ``top_k`` is what the ranking loses: points the detector finds in both images but ranks
differently under the change. ``--smooth S`` adds each detector once more with its score map blurred by a
Gaussian of ``S`` px (of the detected image) before NMS, and ``--rank-smooth S`` once more with its maxima kept
and ranked by that blurred map, to see whether a steadier ranking closes the gap.

    python scripts/experiments/rank_stability.py --validation data/labels-n1/superpoint-ba6e533173.h5 --protocol ait
    python scripts/experiments/rank_stability.py --root ../shared/data/hpatches-real --protocol ait --only i
    python scripts/experiments/rank_stability.py --validation STORE --protocol ait --smooth 1 --smooth 2 --rank-smooth 1
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy.spatial import cKDTree

from distill.commands.common import load_or_fail
from distill.detection.detector import ScoreMapDetector, detect_at_size, multi_scale
from distill.eval.protocol import Protocol, resized_sequence
from distill.eval.repeatability import covisible_match, pair_repeatability
from distill.eval.sequences import load_hpatches
from distill.eval.synthetic_warps import warped_sequences
from distill.student.data import validation_photos
from teachers.homographies import warp_points
from teachers.keypoints import local_maxima


def smoothed(detector: ScoreMapDetector, sigma: float, rank_only: bool) -> ScoreMapDetector:
    """``detector`` whose score map is blurred (Gaussian, ``sigma`` px) before NMS; with ``rank_only`` its own
    NMS maxima are kept and only their scores come from the blurred map (a maximum whose blurred score falls
    under the detector's threshold is dropped)."""
    def score_map(grey: np.ndarray) -> torch.Tensor:
        raw = detector.score_map(grey).float().cpu()
        blurred = torch.from_numpy(cv2.GaussianBlur(raw.numpy(), (0, 0), sigma))
        if not rank_only:
            return blurred
        peak = torch.from_numpy(local_maxima(raw.numpy(), detector.nms_radius)) & (raw > detector.threshold)
        return torch.where(peak, blurred + 1e-6, torch.zeros_like(raw))

    label = f"ranked by its map blurred {sigma:g} px" if rank_only else f"map blurred {sigma:g} px"
    return ScoreMapDetector(f"{detector.name}, {label}", score_map, detector.threshold, detector.nms_radius, "cpu")


def shares(detector: ScoreMapDetector, sequences, protocol: Protocol) -> dict[str, dict[str, list[float]]]:
    """Per kind, per pair: the repeatability and the shares of image 1's best points found in image k's ``top_k``,
    ``2 top_k`` and among all its maxima within ``epsilon``."""
    k_best = protocol.top_k
    out: dict[str, dict[str, list[float]]] = {}
    for sequence in sequences:
        images, homographies = resized_sequence(sequence, protocol.size)
        found = [detect_at_size(multi_scale(detector, tuple(protocol.scales)), grey, protocol.detection_size(grey.shape[:2]),
                                protocol.nms_radius)[0] for grey in images]
        rows = out.setdefault(sequence.kind, {"repeatability": [], "top_k": [], "2 top_k": [], "any": []})
        for k, homography in enumerate(homographies, start=1):
            shapes = images[0].shape[:2], images[k].shape[:2]
            rows["repeatability"].append(pair_repeatability(found[0], found[k], homography, *shapes, k_best,
                                                            protocol.epsilon).repeatability)
            # every point of each image that lands inside the other: image 1's best, and image k's at any rank
            covisible = covisible_match(found[0], found[k], homography, *shapes, max(len(found[0]), len(found[k])))
            ref, candidates = covisible.keep1[:k_best], covisible.keep2
            if not len(ref) or not len(candidates):
                continue
            moved = warp_points(ref, homography)
            for name, count in (("top_k", k_best), ("2 top_k", 2 * k_best), ("any", len(candidates))):
                distance = cKDTree(candidates[:count]).query(moved)[0]
                rows[name].append(float(np.mean(distance <= protocol.epsilon)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", action="append", help="a named detector (repeatable; default: superpoint)")
    parser.add_argument("--checkpoint", action="append", default=[], help="a student checkpoint or pretrained[:name] (repeatable)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--root", type=Path, help="an HPatches-style folder")
    source.add_argument("--validation", type=Path, help="a label store: synthetic sequences of its validation photos")
    parser.add_argument("--illumination", default="mixed", choices=("mixed", "exposure"), help="the i_ changes of --validation")
    parser.add_argument("--protocol", default="ait", choices=("standard", "large", "ait"))
    parser.add_argument("--only", choices=("i", "v"), help="one kind of sequence")
    parser.add_argument("--smooth", type=float, action="append", default=[], help="also each detector's map blurred by S px")
    parser.add_argument("--rank-smooth", type=float, action="append", default=[], help="also its maxima ranked by its map blurred by S px")
    args = parser.parse_args()
    protocol = Protocol.named(args.protocol)
    if args.root:
        sequences = load_hpatches(args.root)
    else:
        sequences = warped_sequences(validation_photos(args.validation), seed=0, illumination=args.illumination)
    sequences = [s for s in sequences if args.only in (None, s.kind)]
    built = [d.detector for d in load_or_fail(args.detector or ["superpoint"], args.checkpoint, "cpu", "torch", 100)]
    detectors = []
    for detector in built:
        detectors += [detector] + [smoothed(detector, s, False) for s in args.smooth] + [smoothed(detector, s, True) for s in args.rank_smooth]
    print(f"{protocol.describe()}; {len(sequences)} sequences\n")
    print("| detector | kind | repeatability | image 1's best found in image k's best | in its 2x best | among all its maxima |")
    print("|---|---|---|---|---|---|")
    for detector in detectors:
        for kind, rows in shares(detector, sequences, protocol).items():
            print(f"| {detector.name} | {kind} | {np.mean(rows['repeatability']):.3f} | {np.mean(rows['top_k']):.3f} | "
                  f"{np.mean(rows['2 top_k']):.3f} | {np.mean(rows['any']):.3f} |")


if __name__ == "__main__":
    main()
