"""What folding batch norms and channels-last memory (``distill.student.inference``) buy in PyTorch on the CPU:
each network loaded as it was before (contiguous memory, batch norms as trained) against as it is loaded now, in
turns within one run, on the embedded photos at ``--size``:

- each released student end to end through its detector (the best ``--top-k`` keypoints and their descriptors),
  and the share of its points that stay the same;
- SuperPoint the same way, and homographic adaptation with ``-n`` warps at ``--label-size`` (the labelling
  stage's work per image).

    python scripts/experiments/inference_layout.py --rounds 3
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from distill.commands.common import parse_size
from distill.detection.detector import describe, detect
from distill.detection.superpoint import superpoint_detector
from distill.pretrained import released_checkpoint
from distill.student.checkpoint import load_student
from distill.student.detector import checkpoint_detector, student_detector
from labels.images import embedded_images, read_grey, resize_image
from teachers.adaptation import homographic_adaptation
from teachers.config import AdaptationConfig
from teachers.superpoint import SuperPoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default="480x640", help="H x W of the timed images")
    parser.add_argument("--images", type=int, default=6, help="embedded photos timed per round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (the first one more is a warm-up)")
    parser.add_argument("--top-k", type=int, default=1024)
    parser.add_argument("-n", "--homographies", type=int, default=10, help="warps of homographic adaptation")
    parser.add_argument("--label-size", type=parse_size, default="240x320", help="H x W of the adapted images (the label stores' default)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    greys = [resize_image(read_grey(path), args.size) for path in embedded_images()[:args.images]]

    detectors = {}
    for release in ("default", "fast"):
        path = released_checkpoint(release)
        model, config = load_student(path)
        detectors[(release, "before")] = student_detector(model, release, config.detection)
        detectors[(release, "now")] = checkpoint_detector(path)
    teacher = SuperPoint.pretrained()  # channels-last on the CPU
    before_teacher = copy.deepcopy(teacher).to(memory_format=torch.contiguous_format)
    detectors[("superpoint", "before")] = superpoint_detector(before_teacher, "cpu")
    detectors[("superpoint", "now")] = superpoint_detector(teacher, "cpu")
    adaptation = AdaptationConfig(num_homographies=args.homographies)
    tensors = [torch.from_numpy(resize_image(g, args.label_size)).float()[None] / 255 for g in greys]

    def extract(detector, grey):
        xy, _ = detect(detector, grey, top_k=args.top_k)
        if detector.describe is not None:
            describe(detector, grey, xy)
        return xy

    times = {key: [] for key in [*detectors, ("adaptation", "before"), ("adaptation", "now")]}
    for round in range(args.rounds + 1):
        for key, detector in detectors.items():
            for grey in greys:
                start = time.perf_counter()
                extract(detector, grey)
                if round:  # round 0 warms up
                    times[key].append(time.perf_counter() - start)
        for key, network in ((("adaptation", "before"), before_teacher), (("adaptation", "now"), teacher)):
            for i, image in enumerate(tensors):
                start = time.perf_counter()
                homographic_adaptation(network, image, adaptation, seed=i)
                if round:
                    times[key].append(time.perf_counter() - start)
    shared = {name: float(np.mean([kept(extract(detectors[(name, "before")], g), extract(detectors[(name, "now")], g)) for g in greys]))
              for name in ("default", "fast", "superpoint")}

    print(f"{args.size[0]}x{args.size[1]}, 2 torch threads, median ms over {args.rounds} rounds of {len(greys)} photos, in turns")
    print("| network | before (contiguous, batch norms) | now (folded, channels-last) | now / before | points kept |")
    print("|---|---|---|---|---|")
    for name in ("default", "fast", "superpoint", "adaptation"):
        before, now = (1000 * float(np.median(times[(name, when)])) for when in ("before", "now"))
        label = {"default": "default release", "fast": "fast release", "superpoint": "SuperPoint",
                 "adaptation": f"SuperPoint, homographic adaptation (N={args.homographies}, {args.label_size[0]}x{args.label_size[1]})"}[name]
        share = f"{shared[name]:.3f}" if name in shared else ""
        print(f"| {label} | {before:.1f} | {now:.1f} | {now / before:.3f} | {share} |")


def kept(before: np.ndarray, now: np.ndarray) -> float:
    """The share of ``before``'s points (N x 2) that ``now`` holds too."""
    return len({tuple(p) for p in before} & {tuple(p) for p in now}) / max(1, len(before))


if __name__ == "__main__":
    main()
