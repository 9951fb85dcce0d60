"""Students vs. the SuperPoint teacher on HPatches, in one run: repeatability, localisation error and
CPU time per 480x640 image (end to end: tensor to keypoints, NMS and top-k included; detectors are
timed in turns, so that a shared machine's drift weighs on all alike), with each student's recipe
(head, input scale, homographic augmentation, losses, steps) so the table doubles as an ablation.

    python scripts/bench_student.py --checkpoint runs/A/best.pt --checkpoint runs/B/best.pt [--root ../shared/data/hpatches-real]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from distill.eval.detectors import build_detectors
from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import load_hpatches
from distill.eval.speed import interleaved_median_ms
from distill.student.checkpoint import read_checkpoint
from distill.student.detector import checkpoint_detector
from labels.images import resize_image


def loss_label(name: str, weight: float, focal_gamma: float = 0.0) -> str:
    """``kl``, ``1000·attentive`` (weight other than 1), ``kl (MQD γ=2)``."""
    label = name if weight == 1 else f"{weight:g}·{name}"
    if focal_gamma:
        label += f" (MQD γ={focal_gamma:g})"
    return label


def recipe(checkpoint: Path) -> tuple[str, str]:
    config = read_checkpoint(checkpoint).config
    losses = [loss_label(name, spec.weight, getattr(spec, "focal_gamma", 0.0))
              for name, spec in vars(config.losses).items() if spec.weight]
    if config.pair.enabled:
        losses.append("pair")
    student = config.student
    model = [student.head, f"scale {student.input_scale}"]
    if student.pixel_shortcut:
        model.append("pixels")
    if student.detail_channels:
        model.append(f"detail {student.detail_channels} from {student.detail_start}px")
    if config.warp:
        model.append("warp aug.")
    model.append(f"{config.steps} steps")
    return ", ".join(model), " + ".join(losses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, action="append", required=True)
    parser.add_argument("--root", type=Path, default=Path("../shared/data/hpatches-real"))
    args = parser.parse_args()
    sequences = load_hpatches(args.root)
    detectors = build_detectors(["superpoint"]) + [checkpoint_detector(c) for c in args.checkpoint]
    protocol = Protocol()
    results = evaluate(detectors, sequences, protocol, progress=False)
    probe = resize_image(sequences[0].images[0], (480, 640))
    for result, ms in zip(results, interleaved_median_ms(detectors, probe, protocol.top_k, protocol.nms_radius)):
        result.ms_per_image = ms
    print(f"HPatches at {args.root}, standard protocol (240x320, 300 points, eps 3 px); "
          f"time per 480x640 image, {torch.get_num_threads()} CPU threads\n")
    print("| detector | model | losses | rep. all | rep. i | rep. v | loc. err. | ms | × SuperPoint time |")
    print("|---|---|---|---|---|---|---|---|---|")
    recipes = [("SuperPoint (teacher)", "raw, no HA")] + [recipe(c) for c in args.checkpoint]
    for result, (model, losses) in zip(results, recipes):
        print(f"| {result.detector} | {model} | {losses} | {result.repeatability():.3f} | {result.repeatability('i'):.3f} | "
              f"{result.repeatability('v'):.3f} | {result.localisation_error():.3f} | {result.ms_per_image:.1f} | "
              f"{result.ms_per_image / results[0].ms_per_image:.3f} |")


if __name__ == "__main__":
    main()
