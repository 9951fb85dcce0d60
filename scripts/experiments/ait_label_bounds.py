"""Could any teacher's labels put a student on top of the assignment's evaluator (``--protocol ait``:
full resolution, the 300 best points, 3 px)? A student learns its labels and ends near the map it
imitates (under the standard protocol 0.005 above it). This script scores, under that evaluator, maps a label
store could hold:

- ``superpoint-haN`` and ``student-haN`` at ``--scale``: the labels of this project's teachers,
  SuperPoint's and another round's (the student's own, adapted over ``N`` warps);
- ``harris-haN``: Harris's response averaged over ``N`` homographic warps of the image (the
  labelling's homographic adaptation, with Harris in SuperPoint's place): the labels of a Harris
  teacher, the detector that leads on ``v_*``;
- ``harris x student^a``: Harris's response at full size times ``a``-th power of the student's
  score map at ``--scale`` (3x3 maximum, resized back): a fused teacher, Harris's corners ranked by the
  student's confidence (``a`` = 0 is Harris itself).

Each map is detected at full size with NMS 4, as the evaluator's table is. For reference it also
scores Harris and, at ``--scale``, SuperPoint and the student (the leader on ``i_*`` and the student as it is).

    python scripts/experiments/ait_label_bounds.py --checkpoint distill/weights/student-r4a30mb-desc-fp16.pt --homographies 10
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from distill.detection.by_name import build_detectors
from distill.detection.classical import classical
from distill.detection.detector import ScoreMapDetector, score_map_at, to_tensor
from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import load_hpatches
from distill.pretrained import released_checkpoint
from distill.student.as_teacher import StudentTeacher
from distill.student.detector import checkpoint_detector
from teachers.adaptation import AdaptationConfig, homographic_adaptation


class HarrisTeacher(torch.nn.Module):
    """Harris in a teacher's place for :func:`homographic_adaptation`: ``B x 1 x H x W`` images in [0, 1]
    -> ``probability`` ``B x H x W``, the ``harris`` detector's map of each; no descriptors."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.empty(0), requires_grad=False)  # the device adaptation runs on
        self.harris = classical("harris")

    def forward(self, images: torch.Tensor) -> SimpleNamespace:
        grey = (images[:, 0] * 255).cpu().numpy()
        return SimpleNamespace(probability=torch.stack([self.harris.score_map(g) for g in grey]), descriptors=None)


def adapted(name: str, teacher: torch.nn.Module, num_homographies: int) -> ScoreMapDetector:
    """``teacher``'s map averaged over ``num_homographies`` warps, as the labelling adapts it."""
    config = AdaptationConfig(num_homographies=num_homographies)
    return ScoreMapDetector(f"{name}-ha{num_homographies}",
                            lambda grey: homographic_adaptation(teacher, to_tensor(grey, "cpu")[0], config, seed=0).heatmap)


def harris_times_student(student: ScoreMapDetector, protocol: Protocol, power: float) -> ScoreMapDetector:
    """``harris(I) * (score_map_at(student, I at protocol.detect_scale) + 1e-3) ** power`` at ``I``'s full size."""
    harris = classical("harris")

    def score(grey: np.ndarray) -> torch.Tensor:
        confidence = score_map_at(student, grey, protocol.detection_size(grey.shape))
        return harris.score_map(grey) * torch.from_numpy(confidence + 1e-3) ** power

    return ScoreMapDetector(f"harris x student^{power:g}", score)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=released_checkpoint(), help="the student (default: the released one)")
    parser.add_argument("--root", type=Path, default=Path("../shared/data/hpatches-real"), help="HPatches-style sequences")
    parser.add_argument("--homographies", type=int, default=10, help="N warps of every adapted map (Harris, SuperPoint, student), the identity included")
    parser.add_argument("--power", type=float, action="append", help="a of the fused map (repeatable; default 0.5, 1, 2)")
    parser.add_argument("--scale", type=float, default=0.5, help="the scale of the student's map and of the networks' reference rows")
    args = parser.parse_args()
    student = checkpoint_detector(args.checkpoint)
    sequences = load_hpatches(args.root)
    full = Protocol.named("ait")
    at_scale = replace(full, detect_scale=args.scale)
    maps = [adapted("harris", HarrisTeacher(), args.homographies)] + [harris_times_student(student, at_scale, a) for a in args.power or (0.5, 1, 2)]
    rows = [(r, "1") for r in evaluate([classical("harris"), *maps], sequences, full, progress=False)]
    networks = [*build_detectors(["superpoint", "superpoint-ha"], ha_homographies=args.homographies), student,
                adapted("student", StudentTeacher(args.checkpoint), args.homographies)]
    rows += [(r, f"{args.scale:g}") for r in evaluate(networks, sequences, at_scale, progress=False)]
    print(f"{full.describe()}; student {args.checkpoint}\n")
    print("| map | detected at | rep. i | rep. v | rep. all |\n|---|---|---|---|---|")
    for result, scale in rows:
        print(f"| {result.detector} | {scale} | {result.repeatability('i'):.3f} | {result.repeatability('v'):.3f} | {result.repeatability():.3f} |")


if __name__ == "__main__":
    main()
