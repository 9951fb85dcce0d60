"""Repeatability with each student's (or named detector's) NMS maxima kept only above a fraction ``r`` of its
image's highest score, instead of above its absolute detection threshold (0.001 for the networks): a threshold that a
global change of the scores (light, contrast) leaves where it was. Each is scored as it is and once per ``--relative
r``, SuperPoint as it is; the ranking of the points is unchanged (the map is divided by its maximum), so only the cut
moves. Standard protocol.

    python scripts/experiments/relative_threshold.py --validation data/labels-n1/superpoint-ba6e533173.h5 \
        --checkpoint pretrained --checkpoint runs/demo/last.pt --relative 0.01 --relative 0.1
    python scripts/experiments/relative_threshold.py --root ../shared/data/hpatches-real --checkpoint pretrained ...
    python scripts/experiments/relative_threshold.py --held-out --checkpoint pretrained ...      # make demo's photos
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from distill.commands.common import load_or_fail
from distill.detection.detector import ScoreMapDetector
from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import load_hpatches
from distill.eval.synthetic_warps import warped_sequences
from distill.student.data import validation_photos
from labels.images import held_out_images


def relative(detector: ScoreMapDetector, fraction: float) -> ScoreMapDetector:
    """``detector`` with its map divided by the image's highest score and cut at ``fraction`` (same NMS, same order)."""
    def score_map(grey: np.ndarray) -> torch.Tensor:
        scores = detector.score_map(grey).float()
        return scores / scores.max().clamp_min(1e-12)

    return ScoreMapDetector(f"{detector.name}, above {fraction:g} of its image's maximum", score_map, fraction,
                            detector.nms_radius, "cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", action="append", default=[], help="a student checkpoint or pretrained[:name] (repeatable)")
    parser.add_argument("-d", "--detector", action="append", default=[], help="a named detector cut alike (repeatable)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--root", type=Path, help="an HPatches-style folder")
    source.add_argument("--validation", type=Path, help="a label store: synthetic sequences of its validation photos")
    source.add_argument("--held-out", action="store_true", help="synthetic sequences of make demo's held-out photos")
    parser.add_argument("--relative", type=float, action="append", required=True, help="a fraction r of the image's maximum (repeatable)")
    args = parser.parse_args()
    if not args.checkpoint and not args.detector:
        parser.error("give at least one --checkpoint or --detector to cut")
    if args.root:
        sequences = load_hpatches(args.root)
    else:
        sequences = warped_sequences(held_out_images() if args.held_out else validation_photos(args.validation), seed=0)
    built = [d.detector for d in load_or_fail(["superpoint", *args.detector], args.checkpoint, "cpu", "torch", 100)]
    detectors = [built[0]]  # SuperPoint as it is: the reference
    for detector in built[1:]:
        detectors += [detector] + [relative(detector, r) for r in args.relative]
    protocol = Protocol.named("standard")
    print(f"{protocol.describe()}; {len(sequences)} sequences\n")
    print("| detector | all | i | v |\n|---|---|---|---|")
    for result in evaluate(detectors, sequences, protocol):
        print(f"| {result.detector} | {result.repeatability(None):.3f} | {result.repeatability('i'):.3f} | "
              f"{result.repeatability('v'):.3f} |")


if __name__ == "__main__":
    main()
