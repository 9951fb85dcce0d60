"""Labelling cost against its floor: homographic adaptation with N views can't be cheaper than N
teacher forward passes. Prints seconds per image and the ratio to N single passes, both measured
in this run on the same images and device, then what --lightglue adds per image.

    python scripts/bench_labels.py [--device cpu] [--images 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from labels.images import embedded_images, read_grey, resize_image
from teachers.adaptation import AdaptationConfig, homographic_adaptation
from teachers.lightglue import PairConfig, load_lightglue, match_warped_pair
from teachers.superpoint import SuperPoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--size", default="240x320")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.split("x"))
    teacher = SuperPoint.pretrained(device=args.device)
    images = [torch.from_numpy(resize_image(read_grey(p), (h, w)).astype(np.float32) / 255)[None]
              for p in embedded_images()[: args.images]]
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    with torch.inference_mode():
        for _ in range(3):
            teacher(images[0][None].to(args.device))
        single = []
        for image in images * 5:
            sync(); start = time.perf_counter()
            teacher(image[None].to(args.device)); sync()
            single.append(time.perf_counter() - start)
    forward = statistics.median(single)
    print(f"device {args.device}, {args.threads} threads, {h}x{w}, {len(images)} images; "
          f"one teacher forward: {forward * 1000:.1f} ms (median)")
    print(f"{'N':>4} {'s/image':>9} {'N forwards (s)':>15} {'ratio':>6}")
    for n in (1, 10, 100):
        config = AdaptationConfig(num_homographies=n)
        times = []
        for seed, image in enumerate(images):
            sync(); start = time.perf_counter()
            homographic_adaptation(teacher, image, config, seed=seed); sync()
            times.append(time.perf_counter() - start)
        per_image = statistics.median(times)
        print(f"{n:>4} {per_image:>9.3f} {n * forward:>15.3f} {per_image / (n * forward):>6.2f}")

    matcher = load_lightglue(device=args.device)
    pair_times = []
    for seed, image in enumerate(images):
        sync(); start = time.perf_counter()
        match_warped_pair(teacher, matcher, image, PairConfig(), seed); sync()
        pair_times.append(time.perf_counter() - start)
    pair = statistics.median(pair_times)
    print(f"--lightglue adds {pair:.3f} s/image (2 teacher passes + LightGlue): "
          f"+{pair / per_image:.1%} on top of N={n}")


if __name__ == "__main__":
    main()
