"""What multi-scale detection costs per image: the default call (``Detector(...)(image, top_k=1000, scales=...)``,
so the working resolution applies) with one scale, the three scales of the option before 2026-12-04 and today's
``distill.choices.MULTISCALE``, for SuperPoint, the default release in PyTorch and in ONNX Runtime int8 and the
fast release in int8; the median ms of ``--rounds`` rounds in turns after one warm-up round
(:func:`distill.eval.speed.interleaved_median_ms`).

    python scripts/experiments/multiscale_time.py ../shared/data/hpatches-real/i_bikes/1.ppm --rounds 5
"""
from __future__ import annotations

import argparse

import cv2
import torch

import distill
from distill.choices import MULTISCALE
from distill.eval.speed import interleaved_median_ms

SETS = {"1 scale": (1.0,), "3 scales": (1.0, 0.78, 0.625), f"{len(MULTISCALE)} scales (MULTISCALE)": MULTISCALE}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", help="an image file (read as grey)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of every detector and set, after one warm-up round")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = cv2.imread(args.image, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise SystemExit(f"{args.image}: not a readable image")
    detectors = {"SuperPoint": distill.Detector.superpoint(device="cpu"),
                 "default release, PyTorch": distill.Detector.pretrained(device="cpu"),
                 "default release, ONNX Runtime int8": distill.Detector.pretrained(runtime="onnx-int8"),
                 "fast release, ONNX Runtime int8": distill.Detector.pretrained("fast", runtime="onnx-int8")}
    calls = [lambda d=detector, s=scales: d(image, top_k=1000, scales=s)
             for detector in detectors.values() for scales in SETS.values()]
    ms = iter(interleaved_median_ms(calls, warmup=1, rounds=args.rounds))
    print(f"{image.shape[1]}x{image.shape[0]}, the 1000 best points, ms (median of {args.rounds} rounds):\n")
    print("| detector | " + " | ".join(SETS) + " |\n|---|" + "---|" * len(SETS))
    for name in detectors:
        print(f"| {name} | " + " | ".join(f"{next(ms):.1f}" for _ in SETS) + " |")


if __name__ == "__main__":
    main()
