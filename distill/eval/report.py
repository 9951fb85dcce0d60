"""Outputs of a benchmark run: results.json, results.md, a repeatability bar chart and keypoints
drawn on one pair. Visualisation is kept apart from computation."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from distill.detection.detector import ScoreMapDetector  # noqa: E402
from distill.eval.paired_bootstrap import Difference, as_dicts, difference_table, differences_by_kind, interval_cells, kinds_as_dict  # noqa: E402
from distill.eval.protocol import DetectorResult, Protocol, rescale_homography  # noqa: E402
from distill.eval.repeatability import covisible_match  # noqa: E402
from labels.images import resize_image  # noqa: E402
from distill.eval.sequences import Sequence  # noqa: E402


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def markdown(results: list[DetectorResult], protocol: Protocol, title: str, differences: dict[str, dict[str, Difference | None]],
             seed_summary: list[dict]) -> str:
    """The run's tables; ``differences`` from :func:`differences_from_teacher`, ``seed_summary`` from :func:`seed_rows`."""
    lines = [
        f"## {title}",
        "",
        f"Protocol: {protocol.describe()}.",
        "",
        "| detector | rep. all | rep. i | rep. v | loc. err. (px) | ms / 480×640 | × SuperPoint time |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r.detector} | {_fmt(r.repeatability())} | {_fmt(r.repeatability('i'))} | "
                     f"{_fmt(r.repeatability('v'))} | {_fmt(r.localisation_error(), 2)} | "
                     f"{_fmt(r.ms_per_image, 1)} | {_fmt(r.speed_ratio, 2)} |")
    names = [s.name for s in results[0].sequences] if results else []
    lines += ["", "Per sequence (repeatability):", "",
              "| sequence | " + " | ".join(r.detector for r in results) + " |",
              "|---|" + "---|" * len(results)]
    for i, name in enumerate(names):
        lines.append(f"| {name} | " + " | ".join(_fmt(r.sequences[i].repeatability) for r in results) + " |")
    table = difference_table(differences, REFERENCE, "Repeatability", len(names))
    return "\n".join(lines + ([""] + table if table else []) + seeds_table(seed_summary)) + "\n"


def seed_rows(results: list[DetectorResult], seeds: list[list[str]]) -> list[dict]:
    """For each group of ``seeds`` (student names): repeatability (all, ``i``, ``v``) and localisation error as mean and
    standard deviation over the seeds, and the seeds' mean repeatability minus SuperPoint's with its interval over
    sequences (None without SuperPoint in the run)."""
    by_name = {r.detector: r for r in results}
    reference = by_name.get(REFERENCE)
    rows = []
    for names in seeds:
        members = [by_name[name] for name in names]
        figures = {f"repeatability {k or 'all'}": [m.repeatability(k) for m in members] for k in (None, "i", "v")}
        figures["localisation error"] = [m.localisation_error() for m in members]
        rows.append({"detectors": names, **{key: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))} for key, v in figures.items()},
                     "difference": None if reference is None else kinds_as_dict(differences_by_kind(
                         [per_sequence_repeatability(m) for m in members], per_sequence_repeatability(reference), np.mean))})
    return rows


def seeds_table(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    lines = ["", "Seeds of one recipe (training configurations equal but for the seed): mean ± std over the seeds, and the "
             f"seeds' mean repeatability minus {REFERENCE}'s with its 95% interval over sequences:", "",
             "| seeds | rep. all | rep. i | rep. v | loc. err. (px) | minus, all | i | v |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [f"{_fmt(row[key]['mean'], digits)} ± {_fmt(row[key]['std'], digits)}" for key, digits in
                 (("repeatability all", 3), ("repeatability i", 3), ("repeatability v", 3), ("localisation error", 2))]
        lines.append(f"| {', '.join(row['detectors'])} | " + " | ".join(cells + interval_cells(row["difference"])) + " |")
    return lines


def per_sequence_repeatability(result: DetectorResult) -> list[tuple[str, list[float]]]:
    """One ``(kind, repeatability of its pairs)`` per sequence, in the run's order."""
    return [(s.kind, [p.repeatability for p in s.pairs]) for s in result.sequences]


REFERENCE = "superpoint"


def differences_from_teacher(results: list[DetectorResult]) -> dict[str, dict[str, Difference | None]]:
    """Each other detector's repeatability minus SuperPoint's over the same pairs (all, ``i``, ``v``), with its bootstrap
    interval over sequences (:mod:`distill.eval.paired_bootstrap`); empty when SuperPoint is not in the run."""
    reference = next((r for r in results if r.detector == REFERENCE), None)
    if reference is None:
        return {}
    return {r.detector: differences_by_kind([per_sequence_repeatability(r)], per_sequence_repeatability(reference), np.mean)
            for r in results if r is not reference}


def bar_chart(results: list[DetectorResult], path: Path, title: str) -> None:
    names = [r.detector for r in results]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names)), 4), constrained_layout=True)
    for offset, kind, label in [(-0.27, "i", "illumination (i_*)"), (0, "v", "viewpoint (v_*)"), (0.27, None, "all")]:
        bars = ax.bar(x + offset, [r.repeatability(kind) for r in results], width=0.26, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
    ax.set_xticks(x, names, rotation=20)
    ax.set_ylabel("repeatability")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def quality_cost_chart(points: list[tuple[str, float, float]], path: Path, title: str,
                       xlabel: str = "ms per 480×640 image (log scale)", ylabel: str = "repeatability (all pairs)") -> None:
    """Quality against time (log scale) for ``(name, ms, quality)`` points: what each method buys for its
    time; students as red stars, SuperPoint blue, the rest grey."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    for name, ms, quality in points:
        student = name.startswith("student")
        ax.scatter(ms, quality, s=60 if student else 35, marker="*" if student else "o",
                   color="tab:red" if student else ("tab:blue" if name.startswith("superpoint") else "tab:gray"), zorder=3)
        ax.annotate(name, (ms, quality), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def keypoints_figure(detectors: list[ScoreMapDetector], pairs: list[tuple[Sequence, int]], protocol: Protocol, path: Path) -> None:
    """For each pair ``(sequence, k)`` (images 1 and ``k + 1``) and each detector: the points the protocol
    scores (after the covisibility filter, the ``top_k`` best), repeated ones green, missed ones red."""
    fig, axes = plt.subplots(len(detectors), 2 * len(pairs), figsize=(4 * 2 * len(pairs), 3 * len(detectors)), squeeze=False,
                             constrained_layout=True)
    for column, (sequence, k) in enumerate(pairs):
        images = [sequence.images[0], sequence.images[k]]
        homography = sequence.homographies[k - 1]
        if protocol.size is not None:
            homography = rescale_homography(homography, images[0].shape[:2], images[1].shape[:2], protocol.size)
            images = [resize_image(image, protocol.size) for image in images]
        for row, detector in zip(axes, detectors):
            points = [protocol.points(detector, image) for image in images]
            match = covisible_match(points[0], points[1], homography, images[0].shape[:2], images[1].shape[:2],
                                    protocol.top_k, protocol.epsilon)
            for ax, image, kept, hit, label in zip(row[2 * column:2 * column + 2], images, (match.keep1, match.keep2),
                                                  (match.hit1, match.hit2), ("1", str(k + 1))):
                ax.imshow(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB))
                ax.scatter(kept[hit, 0], kept[hit, 1], s=5, c="lime", linewidths=0, label="repeated")
                ax.scatter(kept[~hit, 0], kept[~hit, 1], s=5, c="red", linewidths=0, label="missed")
                ax.set_title(f"{detector.name}\n{sequence.name} image {label}: {int(hit.sum())} of {len(kept)} repeated", fontsize=7)
                ax.axis("off")
    axes[0, 0].legend(fontsize=6, loc="lower left", markerscale=2)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def figure_detectors(detectors: list[ScoreMapDetector]) -> list[ScoreMapDetector]:
    """The teacher and the students (next to each other), or the first three detectors without them."""
    chosen = [d for d in detectors if d.name.startswith(("superpoint", "student"))]
    return chosen or detectors[:3]


def example_pairs(sequences: list[Sequence], results: list[DetectorResult] = ()) -> list[tuple[Sequence, int]]:
    """An easy pair (the first pair of an illumination sequence) and a hard one (the last pair of a
    viewpoint sequence), as far as the sequences have them; where ``results`` hold SuperPoint and students, also
    the last pair of the sequence on which they trail it most (:func:`students_worst_sequence`), if another."""
    illumination = [s for s in sequences if s.kind == "i"] or sequences
    viewpoint = [s for s in sequences if s.kind == "v"] or sequences
    pairs = [(illumination[0], 1), (viewpoint[0], len(viewpoint[0].homographies))]
    worst_name = students_worst_sequence(results)
    worst = next((s for s in sequences if s.name == worst_name), None)
    if worst is not None and all(worst is not shown for shown, _ in pairs):
        pairs.append((worst, len(worst.homographies)))
    return pairs


def students_worst_sequence(results: list[DetectorResult]) -> str | None:
    """The sequence on which the students' mean repeatability trails SuperPoint's most, or None without SuperPoint,
    a student, or a sequence on which they trail it."""
    teacher = next((r for r in results if r.detector == REFERENCE), None)
    students = [{s.name: s.repeatability for s in r.sequences} for r in results if r.detector.startswith("student")]
    if teacher is None or not students:
        return None
    gaps = {s.name: np.mean([student[s.name] for student in students]) - s.repeatability for s in teacher.sequences}
    worst = min(gaps, key=gaps.get, default=None)
    return worst if worst is not None and gaps[worst] < 0 else None


def write_outputs(out: Path, results: list[DetectorResult], detectors: list[ScoreMapDetector], sequences: list[Sequence],
                  protocol: Protocol, title: str, meta: dict, seeds: list[list[str]] = ()) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.md", out / "repeatability.png", out / "keypoints.png"]
    differences, seed_summary = differences_from_teacher(results), seed_rows(results, seeds)
    payload = {"title": title, "protocol": {**protocol.__dict__, "size": list(protocol.size) if protocol.size else None}, **meta,
               "detectors": [r.as_dict() for r in results], "difference_from_superpoint": as_dicts(differences),
               "seed_groups": seed_summary}
    paths[0].write_text(json.dumps(payload, indent=2, default=float))
    paths[1].write_text(markdown(results, protocol, title, differences, seed_summary))
    bar_chart(results, paths[2], title)
    timed = [(r.detector, r.ms_per_image, r.repeatability()) for r in results if r.ms_per_image]
    if timed:
        paths.append(out / "quality_cost.png")
        quality_cost_chart(timed, paths[-1], title)
    keypoints_figure(figure_detectors(detectors), example_pairs(sequences, results), protocol, paths[3])
    return paths
