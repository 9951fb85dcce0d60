"""What keeping freed memory in the process (``distill.allocator.keep_freed_memory``) changes in PyTorch on the CPU:
the default release and SuperPoint end to end through ``distill.Detector`` (a 480x640 embedded photo, the 1024 best
keypoints and their descriptors), and SuperPoint's score map at labelling's 240x320, each in a fresh process with
glibc as it comes and with freed memory kept, the two alternated ``--pairs`` times (the setting is per process).

    python scripts/experiments/freed_memory.py --pairs 4
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CALLS = ["default release, 480x640, keypoints + descriptors", "SuperPoint, 480x640, keypoints + descriptors",
         "SuperPoint score map, 240x320"]


def timed(rounds: int) -> list[float]:
    """Median ms of each of :data:`CALLS`, in turns, in this process."""
    import torch

    from distill.api import Detector
    from distill.eval.speed import interleaved_median_ms
    from labels.images import embedded_images, read_grey, resize_image

    torch.set_flush_denormal(True)
    grey = read_grey(embedded_images()[0])
    large, small = resize_image(grey, (480, 640)), resize_image(grey, (240, 320))
    student, superpoint = Detector.pretrained(), Detector.superpoint()
    calls = [lambda: student(large, top_k=1024, resize=None), lambda: superpoint(large, top_k=1024, resize=None),
             lambda: superpoint.detector.score_map(small)]
    return interleaved_median_ms(calls, rounds=rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--child", choices=["glibc", "kept"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "kept":
            from distill.allocator import keep_freed_memory

            assert keep_freed_memory(), "glibc's mallopt refused the setting"
        print(json.dumps(timed(args.rounds)))
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    results: dict[str, list[list[float]]] = {"glibc": [], "kept": []}
    for _ in range(args.pairs):
        for setting in results:
            out = subprocess.run([sys.executable, __file__, "--child", setting, "--rounds", str(args.rounds)],
                                 capture_output=True, text=True, env=env, check=True)
            results[setting].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| call | glibc as it comes (ms) | freed memory kept (ms) |\n|---|---|---|")
    for index, call in enumerate(CALLS):
        spans = [f"{min(r[index] for r in results[s]):.1f}–{max(r[index] for r in results[s]):.1f}" for s in results]
        print(f"| {call} | {spans[0]} | {spans[1]} |")


if __name__ == "__main__":
    main()
