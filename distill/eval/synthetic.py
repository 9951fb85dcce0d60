"""``distill eval synthetic``: detection mAP and localisation error on a fixed seeded set of
synthetic shapes, where the corners are known exactly."""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tqdm import tqdm  # noqa: E402

from distill.choices import EVAL_SEED  # noqa: E402
from distill.eval.average_precision import DetectionResult, average_precision  # noqa: E402
from distill.detection.detector import ScoreMapDetector, detect  # noqa: E402
from labels.synthetic_shapes import ShapesConfig, generate  # noqa: E402
from teachers.config import DetectionConfig  # noqa: E402



def evaluate_synthetic(detectors: list[ScoreMapDetector], count: int = 240, config: ShapesConfig = ShapesConfig(),
                       seed: int = EVAL_SEED, epsilon: float = 3.0, nms_radius: int = DetectionConfig.nms_radius, top_k: int = 100,
                       progress: bool = True) -> dict[str, DetectionResult]:
    images, truths = zip(*[generate(i, seed, config)[:2] for i in range(count)])
    results = {}
    for detector in tqdm(detectors, desc="detectors", disable=not progress, dynamic_ncols=True):
        detections = [detect(detector, image, nms_radius, top_k) for image in images]
        results[detector.name] = average_precision(detections, list(truths), epsilon)
    return results


def write_synthetic_outputs(out: Path, results: dict[str, DetectionResult], meta: dict) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.md", out / "precision_recall.png"]
    payload = {**meta, "detectors": [{"detector": name, "mAP": r.average_precision, "localisation_error": r.localisation_error}
                                     for name, r in results.items()]}
    paths[0].write_text(json.dumps(payload, indent=2))
    lines = [f"## {meta['title']}", "", f"{meta['images']} images {meta['size'][0]}x{meta['size'][1]} (seed {meta['seed']}), "
             f"NMS radius {meta['nms_radius']}, {meta['top_k']} best points per image, correct within ε = {meta['epsilon']:g} px.",
             "", "| detector | mAP | loc. err. (px) |", "|---|---|---|"]
    for name, r in results.items():
        error = "–" if math.isnan(r.localisation_error) else f"{r.localisation_error:.2f}"
        lines.append(f"| {name} | {r.average_precision:.3f} | {error} |")
    paths[1].write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
    for name, r in results.items():
        ax.plot(r.recall, r.precision, label=f"{name} (AP {r.average_precision:.2f})")
    ax.set_xlabel("recall"); ax.set_ylabel("precision"); ax.set_xlim(0, 1); ax.set_ylim(0, 1.02)
    ax.set_title(meta["title"], fontsize=9); ax.legend(fontsize=7)
    fig.savefig(paths[2], dpi=110)
    plt.close(fig)
    return paths
