"""Student vs. teacher on HPatches in one run: repeatability, localisation error and CPU time per
480x640 image (end to end: tensor to keypoints, NMS and top-k included).

    python scripts/bench_student.py --checkpoint runs/NAME/best.pt [--root ../shared/data/hpatches-real]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from distill.eval.detectors import build_detectors
from distill.eval.protocol import Protocol, evaluate, resize
from distill.eval.report import markdown
from distill.eval.sequences import load_hpatches
from distill.eval.speed import median_ms
from distill.student.detector import checkpoint_detector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, action="append", required=True)
    parser.add_argument("--root", type=Path, default=Path("../shared/data/hpatches-real"))
    args = parser.parse_args()
    sequences = load_hpatches(args.root)
    detectors = build_detectors(["superpoint"]) + [checkpoint_detector(c) for c in args.checkpoint]
    protocol = Protocol()
    results = evaluate(detectors, sequences, protocol, progress=False)
    probe = resize(sequences[0].images[0], (480, 640))
    for detector, result in zip(detectors, results):
        result.ms_per_image = median_ms(detector, probe, protocol.top_k)
        result.speed_ratio = result.ms_per_image / results[0].ms_per_image
    print(markdown(results, protocol, f"Student vs. teacher, HPatches at {args.root}"))


if __name__ == "__main__":
    main()
