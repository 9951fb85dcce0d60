"""Why a homography misses on a real pair: wrong matches, imprecise ones, or a ground truth the images disagree with.
For each pair of one HPatches sequence at the matching protocol's size (480x640, 1024 points, LightGlue):

1. per method (SuperPoint + LightGlue, each student + LightGlue): the matches; their share within 1 and 3 px and beyond
   10 px of the ground truth; the RANSAC inliers' mean error; the corner error, the mean over ``--draws`` RANSAC draws
   as ``distill eval matching --set ransac_draws=N`` gives it; and the corner error of a least-squares homography
   through the method's repeated keypoints (each point of image 1 paired with its nearest in image k within 3 px of
   where the ground truth puts it): what the keypoints allow were every match right;
2. the images against the ground truth: image k warped back onto image 1 and compared, in 80 x 80 blocks, with image 1
   under the disk blur and the grey gain and offset that fit best (a defocus model); the shift that aligns each block
   (OpenCV's ECC) is where the ground truth and the pixels disagree (px, x then y; ``--`` where the block leaves the
   image or is too flat to tell).

    python scripts/experiments/pair_diagnostics.py --sequence i_bikes --checkpoint pretrained [--draws 25]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from distill.api import checkpoint_path
from distill.detection.by_name import build_detectors
from distill.eval.matching import (MatchingProtocol, corner_error, draw_orders, homography_inliers, lightglue_matcher,
                                   network_extractor, warp_points)
from distill.eval.protocol import resized_sequence
from distill.eval.sequences import load_sequence
from distill.student.detector import checkpoint_detector

BLOCK = 80  # px


def repeated_homography(xy0: np.ndarray, xyk: np.ndarray, truth: np.ndarray, radius: float = 3.0) -> np.ndarray | None:
    """The least-squares homography through each point of image 1 and its nearest point of image k within ``radius``
    of the ground truth's prediction (``None`` with fewer than 4 such pairs)."""
    predicted = warp_points(xy0, truth)
    distance = np.linalg.norm(predicted[:, None] - xyk[None], axis=2)
    nearest, close = distance.argmin(1), distance.min(1) <= radius
    if close.sum() < 4:
        return None
    return cv2.findHomography(xy0[close].astype(np.float64), xyk[nearest[close]].astype(np.float64), 0)[0]


def disk(radius: float) -> np.ndarray:
    """A normalised disk kernel (a defocused lens's blur), its edge anti-aliased by 8x supersampling."""
    half, fine = int(np.ceil(radius)) + 1, 8
    side = (2 * half + 1) * fine
    y, x = (np.mgrid[0:side, 0:side] + 0.5) / fine - half - 0.5
    kernel = (x ** 2 + y ** 2 <= radius ** 2).reshape(2 * half + 1, fine, 2 * half + 1, fine).mean((1, 3))
    return (kernel / kernel.sum()).astype(np.float32)


def registration(first: np.ndarray, other: np.ndarray, truth: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """``other`` warped back onto ``first`` by ``truth``; the disk radius, gain and offset that best map ``first`` onto
    it and ``rows x cols x 2`` shifts (x, y) between the two, block by block."""
    h, w = first.shape
    back = cv2.warpPerspective(other.astype(np.float32), truth, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    seen = cv2.warpPerspective(np.ones((h, w), np.float32), truth, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
    best = None
    for radius in np.arange(0.3, 6.01, 0.1):
        blurred = cv2.filter2D(first.astype(np.float32), -1, disk(radius))
        design = np.stack([blurred[seen], np.ones(seen.sum(), np.float32)], 1)
        (gain, offset), *_ = np.linalg.lstsq(design, back[seen], rcond=None)
        residual = float(np.sqrt(np.mean((design @ np.array([gain, offset]) - back[seen]) ** 2)))
        if best is None or residual < best[0]:
            best = (residual, radius, gain, offset, blurred * gain + offset)
    _, radius, gain, offset, model = best
    shifts = np.full((h // BLOCK, w // BLOCK, 2), np.nan)
    for row in range(h // BLOCK):
        for col in range(w // BLOCK):
            block = np.s_[row * BLOCK:(row + 1) * BLOCK, col * BLOCK:(col + 1) * BLOCK]
            if seen[block].all():
                shifts[row, col] = block_shift(model[block], back[block])
    return radius, gain, offset, shifts


def block_shift(reference: np.ndarray, moved: np.ndarray) -> tuple[float, float]:
    """The translation ``t`` (x, y px) with ``moved(x + t) = reference(x)``, by OpenCV's ECC alignment; NaN where it
    does not converge (a block too flat to tell)."""
    warp = np.eye(2, 3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(reference.astype(np.float32), moved.astype(np.float32), warp, cv2.MOTION_TRANSLATION,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5), None, 1)
    except cv2.error:
        return float("nan"), float("nan")
    return float(warp[0, 2]), float(warp[1, 2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequence", required=True, help="a sequence folder name, e.g. i_bikes")
    parser.add_argument("--root", type=Path, default=Path("../shared/data/hpatches-real"))
    parser.add_argument("--checkpoint", action="append", default=[], help="a student with descriptors (repeatable)")
    parser.add_argument("--draws", type=int, default=25, help="RANSAC draws per pair")
    args = parser.parse_args()
    protocol = MatchingProtocol(ransac_draws=args.draws)
    images, truths = resized_sequence(load_sequence(args.root / args.sequence), protocol.size)
    networks = build_detectors(["superpoint"]) + [checkpoint_detector(checkpoint_path(c)) for c in args.checkpoint]
    lightglue = lightglue_matcher(protocol=protocol)
    print(f"{args.sequence} at {protocol.size[0]}x{protocol.size[1]}, {protocol.max_keypoints} keypoints, LightGlue, "
          f"corner errors the mean over {args.draws} RANSAC draws\n")
    print("| method | pair | matches | within 1 / 3 px | beyond 10 px | inliers' error (px) | corner error (px) "
          "| corner error, repeated keypoints by least squares (px) |\n|---|---|---|---|---|---|---|---|")
    for network in networks:
        extract = network_extractor(network, protocol)
        features = [extract(image) for image in images]
        for k, truth in enumerate(truths, start=1):
            pairs, _ = lightglue(features[0], features[k], protocol.size)
            p0, pk = features[0].keypoints[pairs[:, 0]], features[k].keypoints[pairs[:, 1]]
            error = np.linalg.norm(warp_points(p0, truth) - pk, axis=1)
            fits = [homography_inliers(p0[o], pk[o], protocol) for o in draw_orders(len(pairs), args.draws)]
            inliers = fits[0][1]  # draw 0 sees LightGlue's own order: the one-draw protocol's inliers
            corners = np.mean([corner_error(estimate, truth, protocol.size) for estimate, _ in fits])
            lsq = corner_error(repeated_homography(features[0].keypoints, features[k].keypoints, truth), truth, protocol.size)
            print(f"| {network.name} | 1-{k + 1} | {len(pairs)} | {np.mean(error <= 1):.2f} / {np.mean(error <= 3):.2f} | "
                  f"{np.mean(error > 10):.3f} | {error[inliers].mean():.2f} | {corners:.2f} | {lsq:.2f} |")
    print(f"\nThe images against the ground truth (defocus model; per {BLOCK}x{BLOCK} block the shift x, y in px):")
    for k, truth in enumerate(truths, start=1):
        radius, gain, offset, shifts = registration(images[0], images[k], truth)
        lengths = np.linalg.norm(shifts[np.isfinite(shifts[..., 0])], axis=1)
        spread = (f"{np.median(lengths):.2f} px, their 90th percentile {np.percentile(lengths, 90):.2f} px" if len(lengths)
                  else "none read")
        print(f"\n1-{k + 1}: disk radius {radius:.1f} px, gain {gain:.2f}, offset {offset:+.1f}; the blocks' shifts: median "
              f"{spread}")
        for row in shifts:
            print("  " + " ".join("   --   " if np.isnan(x) else f"{x:+.1f},{y:+.1f}" for x, y in row))


if __name__ == "__main__":
    main()
