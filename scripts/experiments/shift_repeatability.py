"""Which part of a viewpoint change costs a detector its points? Each photo (resized to 240x320) against a copy of
itself under one warp of one kind at a time, with no photometric change: a pure shift by whole pixels (the
content moves and nothing is resampled but the border), a zoom or a rotation about the centre, a mild
perspective. Repeatability under the standard protocol (300 best points, epsilon = 3 px) per warp, averaged
over the photos.

A shift by whole pixels asks a network only to be shift-equivariant: a shift that is a multiple of its head's
8-pixel cell leaves its grid on the content, any other shift moves the content within the cells. The last row is
the synthetic viewpoint sequences of the same photos (``v_*`` of ``distill eval warped``). ``--average-shifts``
adds each detector once more with its map averaged over copies of the image shifted by (0, 0) and (4, 4) px, or
by (0, 0), (4, 0), (0, 4) and (4, 4) px (a test-time analysis: it costs as many passes). ``--blur`` adds each
detector with its map blurred by a Gaussian of that sigma before NMS (``rank_stability.smoothed``; one pass, its
maxima then rank by the mass around them rather than by their peak).

    python scripts/experiments/shift_repeatability.py --validation data/labels-n1/superpoint-ba6e533173.h5 \
        -d superpoint --checkpoint runs/demo/last.pt --checkpoint pretrained --average-shifts 4
"""
from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from distill.commands.common import load_or_fail
from distill.detection.detector import ScoreMapDetector
from distill.eval.protocol import Protocol, evaluate
from distill.eval.repeatability import pair_repeatability
from distill.eval.synthetic_warps import warped_sequences
from distill.student.data import validation_photos
from labels.images import embedded_images, read_grey, resize_image
from rank_stability import smoothed  # a sibling script: its directory is on the path when run

SIZE = (240, 320)


def about_centre(matrix: np.ndarray, size: tuple[int, int] = SIZE) -> np.ndarray:
    """``matrix`` (3x3, acting on pixel coordinates relative to the image centre) as a homography of the image."""
    h, w = size
    centre = np.array([[1, 0, (w - 1) / 2], [0, 1, (h - 1) / 2], [0, 0, 1.0]])
    return centre @ matrix @ np.linalg.inv(centre)


def warps(size: tuple[int, int] = SIZE) -> dict[str, np.ndarray]:
    """The warps, by name: shifts along x by 1, 2, 4 and 8 px and by (5, 3) px, zooms by 1.1 and 1.25, rotations
    by 5 and 15 degrees, and one mild perspective."""
    def shift(dx: float, dy: float = 0.0) -> np.ndarray:
        return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]])

    def rotation(degrees: float) -> np.ndarray:
        c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
        return about_centre(np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]), size)

    return {"shift 1 px": shift(1), "shift 2 px": shift(2), "shift 4 px": shift(4), "shift 8 px": shift(8),
            "shift (5, 3) px": shift(5, 3), "zoom 1.1": about_centre(np.diag([1.1, 1.1, 1.0]), size),
            "zoom 1.25": about_centre(np.diag([1.25, 1.25, 1.0]), size), "rotation 5°": rotation(5),
            "rotation 15°": rotation(15), "perspective": np.array([[1, 0.05, 0], [0.02, 1, 0], [1e-4, 2e-4, 1.0]])}


def repeatability_under(detector: ScoreMapDetector, greys: list[np.ndarray], homography: np.ndarray,
                        protocol: Protocol) -> float:
    """Mean repeatability of each grey image against its warp by ``homography`` (black outside the content)."""
    scores = []
    for grey in greys:
        h, w = grey.shape
        warped = cv2.warpPerspective(grey, homography, (w, h), flags=cv2.INTER_LINEAR)
        scores.append(pair_repeatability(protocol.points(detector, grey), protocol.points(detector, warped), homography,
                                         grey.shape, warped.shape, protocol.top_k, protocol.epsilon).repeatability)
    return float(np.mean(scores))


SHIFTED_COPIES = {2: [(0, 0), (4, 4)], 4: [(0, 0), (4, 0), (0, 4), (4, 4)]}


def shift_averaged(detector: ScoreMapDetector, copies: int) -> ScoreMapDetector:
    """``detector`` whose map is the mean of its maps of ``copies`` copies of the image shifted by ``SHIFTED_COPIES``
    (8 px of reflected border added around each, so that every copy keeps the image's size plus 8), each shifted back."""
    def score_map(grey: np.ndarray) -> torch.Tensor:
        h, w = grey.shape
        maps = [detector.score_map(cv2.copyMakeBorder(grey, dy, 8 - dy, dx, 8 - dx, cv2.BORDER_REFLECT))[dy:dy + h, dx:dx + w]
                for dx, dy in SHIFTED_COPIES[copies]]
        return torch.stack([m.float().cpu() for m in maps]).mean(dim=0)

    return replace(detector, name=f"{detector.name}, mean of {copies} shifted copies", score_map=score_map, device="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--validation", type=Path, help="the validation photos of this label store")
    source.add_argument("--embedded", action="store_true", help="the embedded photos (the demo's training photos)")
    parser.add_argument("-d", "--detector", action="append", default=[], help="detector by name (repeatable)")
    parser.add_argument("--checkpoint", action="append", default=[], help="a student (repeatable)")
    parser.add_argument("--photos", type=int, default=0, help="only the first N photos (0: all)")
    parser.add_argument("--average-shifts", type=int, choices=sorted(SHIFTED_COPIES), action="append", default=[],
                        help="also each detector with its map averaged over this many shifted copies (repeatable)")
    parser.add_argument("--blur", type=float, action="append", default=[],
                        help="also each detector with its map blurred by a Gaussian of this sigma in px (repeatable)")
    args = parser.parse_args()
    if not args.validation and not args.embedded:
        parser.error("choose --validation STORE or --embedded")
    photos = validation_photos(args.validation) if args.validation else embedded_images()
    photos = photos[:args.photos] if args.photos else photos
    greys = [resize_image(read_grey(p), SIZE) for p in photos]
    loaded = [d.detector for d in load_or_fail(args.detector, args.checkpoint, "cpu", "torch", 100)]
    detectors = [variant for d in loaded for variant in
                 [d] + [shift_averaged(d, n) for n in args.average_shifts] + [smoothed(d, sigma, rank_only=False) for sigma in args.blur]]
    protocol = Protocol()
    print(f"{len(greys)} photos at {SIZE[0]}x{SIZE[1]}, {protocol.describe()}\n")
    print("| warp | " + " | ".join(d.name for d in detectors) + " |")
    print("|---|" + "---|" * len(detectors))
    for name, homography in warps().items():
        cells = [f"{repeatability_under(d, greys, homography, protocol):.3f}" for d in detectors]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    sequences = [s for s in warped_sequences(photos, seed=0) if s.name.startswith("v_")]
    cells = [f"{result.repeatability('v'):.3f}" for result in evaluate(detectors, sequences, protocol, progress=False)]
    print("| synthetic v_ sequences | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
