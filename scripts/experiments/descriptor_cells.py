"""What running a student's 1x1 descriptor head only on the cells its points read (``Student.descriptors_at``) buys
in PyTorch on the CPU: each released student end to end through ``distill.Detector`` (a 480x640 embedded photo, the
``--top-k`` best keypoints and their descriptors), with its head on the whole grid as before (``describe``, then
SuperPoint's bilinear sampling) and on the cells read, in turns with SuperPoint's float ONNX model (its fastest
runtime that holds its matching), ``--repeat`` times; and the largest difference between the two ways' descriptors.

    python scripts/experiments/descriptor_cells.py --rounds 20 --repeat 5
"""
from __future__ import annotations

import argparse
import statistics

import torch

from distill.api import Detector
from distill.detection.detector import sampled
from distill.pretrained import released_checkpoint
from distill.student.detector import student_detector
from distill.student.inference import inference_student
from distill.student.superpoint_onnx import superpoint_onnx_detector
from distill.eval.speed import interleaved_median_ms
from labels.images import embedded_images, read_grey, resize_image


def whole_grid(model) -> None:
    """``model`` describes points from its dense map, as every student did before ``descriptors_at``."""
    model.descriptors_at = lambda encoding, points: sampled(lambda: model.describe(encoding))(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds per timing (detectors in turns)")
    parser.add_argument("--repeat", type=int, default=5, help="timings")
    parser.add_argument("--top-k", type=int, default=1024)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    grey = resize_image(read_grey(embedded_images()[0]), (480, 640))
    detectors = {"SuperPoint, ONNX Runtime": Detector(superpoint_onnx_detector("onnx"))}
    for release in ("fast", "default"):
        for way in ("whole grid", "cells read"):
            model, config = inference_student(released_checkpoint(release), "cpu")
            if way == "whole grid":
                whole_grid(model)
            detectors[f"{release} release, {way}"] = Detector(student_detector(model, release, config.detection))
    calls = [lambda d=d: d(grey, top_k=args.top_k, resize=None, descriptors=True) for d in detectors.values()]
    timings = [interleaved_median_ms(calls, rounds=args.rounds) for _ in range(args.repeat)]
    print(f"480x640, the {args.top_k} best keypoints and their descriptors, {torch.get_num_threads()} threads; "
          f"ms (x SuperPoint's) of each of {args.repeat} timings, then their median\n")
    print("| detector | " + " | ".join(f"timing {i + 1}" for i in range(args.repeat)) + " | median |")
    print("|---|" + "---|" * (args.repeat + 1))
    for index, name in enumerate(detectors):
        cells = [f"{t[index]:.1f} ({t[index] / t[0]:.3f})" for t in timings]
        middle = statistics.median(t[index] for t in timings)
        ratio = statistics.median(t[index] / t[0] for t in timings)
        print(f"| {name} | " + " | ".join(cells) + f" | {middle:.1f} ({ratio:.3f}) |")
    for release in ("fast", "default"):
        before = detectors[f"{release} release, whole grid"](grey, top_k=args.top_k, resize=None)
        now = detectors[f"{release} release, cells read"](grey, top_k=args.top_k, resize=None)
        assert (before.keypoints == now.keypoints).all()
        print(f"\n{release} release: largest descriptor difference {abs(before.descriptors - now.descriptors).max():.1e}")


if __name__ == "__main__":
    main()
