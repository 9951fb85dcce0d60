"""Students against the SuperPoint teacher on HPatches (or synthetic warps of photos), in one run: repeatability,
localisation error and CPU time per 480x640 image (end to end through ``distill.Detector``: image to keypoints, NMS
and top-k included; detectors timed in turns, so that a shared machine's drift weighs on all alike), with each
student's recipe (head, input scale, homographic augmentation, losses, steps) so the table doubles as an ablation.
Checkpoints of runs that differ only by seed also get a row with the mean and standard deviation; ``subpixel`` adds
repeatability and localisation error with sub-pixel refinement, for every detector. Each row also carries its
repeatability minus the teacher's with a 95% paired bootstrap interval over sequences
(:mod:`distill.eval.paired_bootstrap`); a group of seeds is compared through the mean of its seeds, so the interval
says what the sequences resolve and the ± what the seeds spread."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from distill.api import Detector, checkpoint_path, load_detectors
from distill.eval.paired_bootstrap import Difference, differences_by_kind, interval_cell
from distill.eval.speed import interleaved_median_ms
from distill.eval.protocol import Protocol, evaluate
from distill.eval.report import per_sequence_repeatability
from distill.eval.sequences import Sequence
from distill.student.checkpoint import read_checkpoint
from distill.student.seeds import seed_groups
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


def bench_students(checkpoints: list[str], sequences: list[Sequence], subpixel: bool = False, device: str = "cpu") -> dict:
    """The table: ``{"kind": "bench_student", "columns", "digits", "rows": [{detector, model, losses, values, spread}]}``,
    SuperPoint first, one row per checkpoint, then a mean ± std row per group of seeds."""
    detectors = load_detectors(["superpoint", *checkpoints], device)
    protocol = Protocol()
    scoring = [d.detector for d in detectors]
    results = evaluate(scoring, sequences, protocol, progress=False)
    refined = evaluate(scoring, sequences, replace(protocol, subpixel=True), progress=False) if subpixel else None
    probe = resize_image(sequences[0].images[0], (480, 640))
    times = interleaved_median_ms([end_to_end(d, probe, protocol) for d in detectors])
    columns = ["rep. all", "rep. i", "rep. v", "loc. err."] + (["rep. all (sub-px)", "loc. err. (sub-px)"] if refined else [])
    paths = [checkpoint_path(c) for c in checkpoints]
    recipes = [("SuperPoint (teacher)", "raw, no HA")] + [recipe(path) for path in paths]

    def figures(indices: list[int]) -> list[np.ndarray]:
        """Per column, the values of the detectors ``indices``."""
        values = [[results[i].repeatability(), results[i].repeatability("i"), results[i].repeatability("v"),
                   results[i].localisation_error()] + ([refined[i].repeatability(), refined[i].localisation_error()] if refined else [])
                  + [times[i], times[i] / times[0]] for i in indices]
        return [np.array(column) for column in zip(*values)]

    def from_teacher(indices: list[int]) -> dict | None:
        """The mean over the detectors ``indices`` minus the teacher, with its interval; None for the teacher."""
        if indices == [0]:
            return None
        return differences_by_kind([per_sequence_repeatability(results[i]) for i in indices], per_sequence_repeatability(results[0]),
                                   np.mean)["all"].as_dict()

    rows = [{"detector": result.detector, "model": model, "losses": losses, "values": [float(c[0]) for c in figures([index])],
             "spread": None, "difference": from_teacher([index])}
            for index, (result, (model, losses)) in enumerate(zip(results, recipes))]
    for group in seed_groups(paths):
        members = [i + 1 for i in group]  # row 0 is the teacher
        per_column = figures(members)
        rows.append({"detector": f"mean ± std of {', '.join(run_name(paths[i]) for i in group)}", "model": recipes[members[0]][0],
                     "losses": recipes[members[0]][1], "values": [float(c.mean()) for c in per_column],
                     "spread": [float(c.std(ddof=1)) for c in per_column], "difference": from_teacher(members)})
    return {"kind": "bench_student", "columns": columns + ["ms", "× SuperPoint time"], "digits": [3] * len(columns) + [1, 3],
            "rows": rows}


def end_to_end(detector: Detector, grey: np.ndarray, protocol: Protocol):
    """One call as a user makes it: grey uint8 in, the protocol's best points out (NMS, top-k), no descriptors; at the
    image's own 480x640 (no working resolution), so that every network is timed on the same pixels."""
    return lambda: detector(grey, top_k=protocol.top_k, nms_radius=protocol.nms_radius, resize=None, descriptors=False)


def markdown(table: dict, title: str) -> str:
    lines = [title, "", "| detector | model | losses | " + " | ".join(table["columns"]) + " | rep. all − teacher [95% interval] |",
             "|---|---|---|" + "---|" * (len(table["columns"]) + 1)]
    for entry in table["rows"]:
        spread = entry["spread"] or [None] * len(table["digits"])
        cells = [f"{v:.{d}f}" + (f" ± {s:.{d}f}" if s is not None else "") for v, s, d in zip(entry["values"], spread, table["digits"])]
        cells.append("–" if entry.get("difference") is None else interval_cell(Difference(**entry["difference"])))
        lines.append(f"| {entry['detector']} | {entry['model']} | {entry['losses']} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", "The interval is a paired bootstrap over the sequences (2000 draws); a row of seeds is "
                              "compared through its seeds' mean, so its interval leaves out the spread over seeds (±)."]) + "\n"
