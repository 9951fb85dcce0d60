"""How far are a student's descriptors from SuperPoint's, and where? On the validation photos of a label store,
resized to the matching resolution, the mean cosine distance ``1 - <d_student, d_SuperPoint>`` of the two
networks' descriptors sampled at the same places: the student's own best points (what its matching reads),
SuperPoint's best points, and the centre of every 8x8 cell (what the dense distillation term weighs alike).

    python scripts/experiments/descriptor_distance.py --validation data/labels-desc/superpoint-e58c6714b7.h5 \\
        --checkpoint distill/weights/student-r4a30mb-desc-fp16.pt --checkpoint runs/RUN/last.pt
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from distill.detection.by_name import build_detectors
from distill.detection.detector import describe, detect
from distill.eval.matching import MatchingProtocol
from distill.student.data import validation_photos
from distill.student.detector import checkpoint_detector


def cell_centres(height: int, width: int) -> np.ndarray:
    """``N x 2`` pixel centres (x, y) of the 8x8 cells of an image."""
    ys, xs = np.mgrid[4:height:8, 4:width:8]
    return np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--validation", type=Path, required=True, help="a label store: its validation photos are used")
    parser.add_argument("--checkpoint", type=Path, action="append", required=True, help="a student with descriptors")
    args = parser.parse_args()
    protocol = MatchingProtocol()
    height, width = protocol.size
    superpoint = build_detectors(["superpoint"])[0]
    students = {path: checkpoint_detector(path) for path in args.checkpoint}
    where = ("its own points", "SuperPoint's points", "every cell")
    distances: dict = {path: {w: [] for w in where} for path in students}
    photos, unreadable = validation_photos(args.validation), 0
    for photo in photos:
        grey = cv2.imread(str(photo), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            unreadable += 1
            continue
        grey = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)
        teacher_points, _ = detect(superpoint, grey, protocol.nms_radius, protocol.max_keypoints, False, border=4)
        for path, student in students.items():
            own, _ = detect(student, grey, protocol.nms_radius, protocol.max_keypoints, False, border=4)
            for name, xy in zip(where, (own, teacher_points, cell_centres(height, width))):
                distances[path][name].append(1 - (describe(student, grey, xy) * describe(superpoint, grey, xy)).sum(1))
    print(f"cosine distance to SuperPoint's descriptors, {len(photos) - unreadable} validation photos of {args.validation} "
          f"({unreadable} unreadable, skipped) at {height}x{width}, {protocol.max_keypoints} points\n")
    print("| checkpoint | " + " | ".join(where) + " |\n" + "|---" * (len(where) + 1) + "|")
    for path, rows in distances.items():
        print(f"| {path} | " + " | ".join(f"{np.concatenate(rows[w]).mean():.4f}" for w in where) + " |")


if __name__ == "__main__":
    main()
