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

from distill.eval.detectors import ScoreMapDetector, detect  # noqa: E402
from distill.eval.protocol import DetectorResult, Protocol  # noqa: E402
from labels.images import resize_image  # noqa: E402
from distill.eval.sequences import Sequence  # noqa: E402


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def markdown(results: list[DetectorResult], protocol: Protocol, title: str) -> str:
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
    return "\n".join(lines) + "\n"


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


def quality_cost_chart(points: list[tuple[str, float, float]], path: Path, title: str) -> None:
    """Repeatability (all) against ms per 480x640 image, log scale, for ``(detector, ms, repeatability)``
    points: what each detector buys for its time."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    for name, ms, repeatability in points:
        student = name.startswith("student")
        ax.scatter(ms, repeatability, s=60 if student else 35, marker="*" if student else "o",
                   color="tab:red" if student else ("tab:blue" if name.startswith("superpoint") else "tab:gray"), zorder=3)
        ax.annotate(name, (ms, repeatability), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("ms per 480×640 image (log scale)")
    ax.set_ylabel("repeatability (all pairs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def keypoints_figure(detectors: list[ScoreMapDetector], sequence: Sequence, protocol: Protocol, path: Path, pair: int = 1) -> None:
    """Each detector's best ``top_k`` points on images 1 and ``pair + 1`` of one sequence."""
    images = [sequence.images[0], sequence.images[pair]]
    if protocol.size is not None:
        images = [resize_image(image, protocol.size) for image in images]
    fig, axes = plt.subplots(len(detectors), 2, figsize=(8, 3 * len(detectors)), squeeze=False, constrained_layout=True)
    for row, detector in zip(axes, detectors):
        for ax, image in zip(row, images):
            xy, _ = detect(detector, image, protocol.nms_radius, protocol.top_k, protocol.subpixel)
            ax.imshow(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB))
            ax.scatter(xy[:, 0], xy[:, 1], s=4, c="lime", linewidths=0)
            ax.set_title(f"{detector.name}: {len(xy)} points", fontsize=8)
            ax.axis("off")
    fig.suptitle(f"{sequence.name}: image 1 and {pair + 1}", fontsize=10)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_outputs(out: Path, results: list[DetectorResult], detectors: list[ScoreMapDetector], sequences: list[Sequence],
                  protocol: Protocol, title: str, meta: dict) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.md", out / "repeatability.png", out / "keypoints.png"]
    payload = {"title": title, "protocol": {**protocol.__dict__, "size": list(protocol.size) if protocol.size else None}, **meta,
               "detectors": [r.as_dict() for r in results]}
    paths[0].write_text(json.dumps(payload, indent=2, default=float))
    paths[1].write_text(markdown(results, protocol, title))
    bar_chart(results, paths[2], title)
    timed = [(r.detector, r.ms_per_image, r.repeatability()) for r in results if r.ms_per_image]
    if timed:
        paths.append(out / "quality_cost.png")
        quality_cost_chart(timed, paths[-1], title)
    viewpoint = [s for s in sequences if s.kind == "v"] or sequences
    keypoints_figure(detectors, viewpoint[0], protocol, paths[3])
    return paths
