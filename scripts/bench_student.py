"""Students vs. the SuperPoint teacher on HPatches, in one run: repeatability, localisation error and
CPU time per 480x640 image (end to end: tensor to keypoints, NMS and top-k included; detectors are
timed in turns, so that a shared machine's drift weighs on all alike), with each student's recipe
(head, input scale, homographic augmentation, losses, steps) so the table doubles as an ablation.
Checkpoints of runs that differ only by seed also get a row with the mean and standard deviation;
``--subpixel`` adds repeatability and localisation error with sub-pixel refinement, for every detector.

    python scripts/bench_student.py --checkpoint runs/A/last.pt --checkpoint runs/B/last.pt [--root ../shared/data/hpatches-real] [--subpixel]
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from distill.detection.by_name import build_detectors
from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import load_hpatches
from distill.eval.speed import interleaved_median_ms
from distill.student.checkpoint import read_checkpoint
from distill.student.detector import checkpoint_detector
from labels.configuration import plain
from labels.images import resize_image


def loss_label(name: str, weight: float, focal_gamma: float = 0.0, threshold: float | None = None) -> str:
    """``kl``, ``1000·attentive`` (weight other than 1), ``kl (MQD γ=2)``, ``focal (target threshold 0.1)``."""
    label = name if weight == 1 else f"{weight:g}·{name}"
    if focal_gamma:
        label += f" (MQD γ={focal_gamma:g})"
    if threshold is not None:
        label += f" (target threshold {threshold:g})"
    return label


def run_name(checkpoint: Path) -> str:
    """``runs/NAME/last.pt`` -> ``NAME``; any other file -> its stem."""
    return checkpoint.parent.name if checkpoint.stem in ("last", "best") else checkpoint.stem


def recipe(checkpoint: Path) -> tuple[str, str]:
    config = read_checkpoint(checkpoint).config
    losses = [loss_label(name, spec.weight, getattr(spec, "focal_gamma", 0.0), getattr(spec, "threshold", None))
              for name, spec in vars(config.losses).items()
              if spec.weight and (name != "descriptor" or config.student.descriptor_dim)]
    if config.pair.enabled:
        losses.append("pair")
    student = config.student
    model = [f"{student.head} {student.head_channels or student.fpn_channels}", f"scale {student.input_scale}"]
    if student.pixel_shortcut:
        model.append("pixels")
    if student.detail_channels:
        model.append(f"detail {student.detail_channels} from {student.detail_start}px")
    if student.separable:
        model.append("separable")
    if config.warp:
        model.append("warp aug.")
    if config.init:
        model.append(f"from {run_name(Path(config.init)) if config.init != 'pretrained' else 'the released student'}")
    model.append(f"{config.steps} steps on {' + '.join(Path(store).stem for store in config.stores) or 'the newest store'}")
    return ", ".join(model), " + ".join(losses)


# keys that leave a run's last weights unchanged: bookkeeping and how often validation runs
NOT_RECIPE = ("seed", "name", "keep_checkpoints", "val_every", "workers")


def seed_groups(checkpoints: list[Path]) -> list[list[int]]:
    """Indices of the checkpoints whose training configurations differ only by ``seed`` (and keys that
    leave the last weights unchanged: ``NOT_RECIPE``), for groups of two or more."""
    groups: dict[str, list[int]] = {}
    for index, path in enumerate(checkpoints):
        config = plain(read_checkpoint(path).config)
        key = json.dumps({k: v for k, v in config.items() if k not in NOT_RECIPE}, sort_keys=True) + path.name
        groups.setdefault(key, []).append(index)
    return [members for members in groups.values() if len(members) > 1]


def row(name: str, model: str, losses: str, values: list[str]) -> str:
    return f"| {name} | {model} | {losses} | " + " | ".join(values) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, action="append", required=True)
    parser.add_argument("--root", type=Path, default=Path("../shared/data/hpatches-real"))
    parser.add_argument("--subpixel", action="store_true", help="also evaluate every detector with sub-pixel refinement")
    parser.add_argument("--json", type=Path, help="also write the table here (the ablation of `distill report --ablation`)")
    args = parser.parse_args()
    sequences = load_hpatches(args.root)
    detectors = build_detectors(["superpoint"]) + [checkpoint_detector(c) for c in args.checkpoint]
    protocol = Protocol()
    results = evaluate(detectors, sequences, protocol, progress=False)
    refined = evaluate(detectors, sequences, replace(protocol, subpixel=True), progress=False) if args.subpixel else None
    probe = resize_image(sequences[0].images[0], (480, 640))
    for result, ms in zip(results, interleaved_median_ms(detectors, probe, protocol.top_k, protocol.nms_radius)):
        result.ms_per_image = ms
    print(f"HPatches at {args.root}, standard protocol (240x320, 300 points, eps 3 px); "
          f"time per 480x640 image, {torch.get_num_threads()} CPU threads\n")
    columns = ["rep. all", "rep. i", "rep. v", "loc. err."] + (["rep. all (sub-px)", "loc. err. (sub-px)"] if refined else [])
    print("| detector | model | losses | " + " | ".join(columns + ["ms", "× SuperPoint time"]) + " |")
    print("|---|---|---|" + "---|" * (len(columns) + 2))
    recipes = [("SuperPoint (teacher)", "raw, no HA")] + [recipe(c) for c in args.checkpoint]

    def figures(indices: list[int]) -> list[np.ndarray]:
        """Per column, the values of the detectors ``indices``."""
        values = [[results[i].repeatability(), results[i].repeatability("i"), results[i].repeatability("v"),
                   results[i].localisation_error()] + ([refined[i].repeatability(), refined[i].localisation_error()] if refined else [])
                  + [results[i].ms_per_image, results[i].ms_per_image / results[0].ms_per_image] for i in indices]
        return [np.array(column) for column in zip(*values)]

    digits = [3] * len(columns) + [1, 3]
    table = []
    for index, (result, (model, losses)) in enumerate(zip(results, recipes)):
        table.append({"detector": result.detector, "model": model, "losses": losses,
                      "values": [float(c[0]) for c in figures([index])], "spread": None})
    for group in seed_groups(args.checkpoint):
        members = [i + 1 for i in group]  # results[0] is the teacher
        model, losses = recipes[members[0]]
        per_column = figures(members)
        table.append({"detector": f"mean ± std of {', '.join(results[i].detector.split(':', 1)[-1] for i in members)}",
                      "model": model, "losses": losses, "values": [float(c.mean()) for c in per_column],
                      "spread": [float(c.std(ddof=1)) for c in per_column]})
    for entry in table:
        spread = entry["spread"] or [None] * len(digits)
        print(row(entry["detector"], entry["model"], entry["losses"],
                  [f"{v:.{d}f}" + (f" ± {s:.{d}f}" if s is not None else "") for v, s, d in zip(entry["values"], spread, digits)]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"kind": "bench_student", "root": str(args.root), "columns": columns + ["ms", "× SuperPoint time"],
                                         "digits": digits, "rows": table}, indent=2))


if __name__ == "__main__":
    main()
