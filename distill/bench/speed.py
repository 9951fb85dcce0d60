"""Speed of the SuperPoint teacher and of students in every runtime available here (and, for reference, of
classical detectors in OpenCV), timed in one run, end
to end as a user calls them: ``distill.Detector(grey, resize=None)`` on a 480x640 grey uint8 image (at its own
480x640: the default working resolution would detect at 384x512), to the ``top_k`` best keypoints after NMS (no
descriptors), median ms, detectors in turns (one image each per round, so that a
shared machine's drift weighs on all alike), after warm-up. Beside it, the network's score map alone, so
that what the API adds (input checks, NMS, top-k, conversions) is in the table. Denormal floats are flushed
to zero in every runtime. SuperPoint's ONNX models are exported here, as a student's are.

The headline is the ratio of each student's fastest runtime to SuperPoint's fastest. int8 counts only where
its accuracy holds: with HPatches sequences, every row also gets its repeatability (standard protocol), and
a runtime competes for the headline when it stays within 0.01 of the same network in PyTorch; without them
int8 rows are shown but left out of the headline. With ``repeat`` the timing is done that many times (the
table shows the median of the medians) and each headline ratio is given with every value."""
from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from distill.api import Detector, load_detectors
from distill.choices import RUNTIMES
from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import Sequence
from distill.eval.speed import interleaved_median_ms
from distill.student.onnx_model import export_graph, onnx_detector
from distill.student.quantize import quantize_int8
from teachers.config import DetectionConfig
from teachers.superpoint import SuperPoint

RUNTIME_NAMES = {"torch": "PyTorch", "onnx": "ONNX Runtime", "onnx-int8": "ONNX Runtime int8", "opencv": "OpenCV"}


@dataclass
class Row:
    group: str  # superpoint, a classical detector's name, or the student's spec
    runtime: str
    detector: Detector
    ms: float = 0.0
    network_ms: float = 0.0
    repeatability: float | None = None


def superpoint_rows(folder: Path) -> list[Row]:
    """SuperPoint in PyTorch and in ONNX Runtime, float and int8 (exported here, dynamic height and width)."""
    teacher = SuperPoint.pretrained().eval()

    class Probability(torch.nn.Module):
        def forward(self, image):
            return teacher(image).probability

    path = folder / "superpoint.onnx"
    export_graph(Probability().eval(), path, ["probability"], stride=8)
    onnx_models = {"onnx": path, "onnx-int8": quantize_int8(path, folder / "superpoint.int8.onnx")}
    rows = [Row("superpoint", "torch", load_detectors(["superpoint"], "cpu")[0])]
    for runtime, model in onnx_models.items():
        detector = onnx_detector(model, name=f"superpoint ({runtime})")
        detector.threshold = DetectionConfig.threshold  # SuperPoint's, as in the PyTorch detector
        rows.append(Row("superpoint", runtime, Detector(detector)))
    return rows


def bench_speed(students: list[str], grey: np.ndarray, top_k: int = 300, rounds: int = 15, repeat: int = 1,
                sequences: list[Sequence] | None = None, classical: list[str] = ()) -> dict:
    """The table (``rows``: detector, runtime, ms, network ms, × SuperPoint's fastest, repeatability) and the
    headline ratios, every detector on the CPU; ``classical`` detectors (OpenCV, by name) are timed in the same
    turns, for reference."""
    torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory() as folder:
        rows = superpoint_rows(Path(folder))
        rows += [Row(name, "opencv", load_detectors([name], "cpu")[0]) for name in classical]
        for spec in students:
            rows += [Row(spec, runtime, load_detectors([spec], "cpu", runtime)[0]) for runtime in RUNTIMES]
        calls = [lambda d=row.detector: d(grey, top_k=top_k, resize=None, descriptors=False) for row in rows]
        networks = [lambda d=row.detector.detector: d.score_map(grey) for row in rows]
        timings = [interleaved_median_ms(calls + networks, rounds=rounds) for _ in range(repeat)]
        for index, row in enumerate(rows):
            row.ms = statistics.median(t[index] for t in timings)
            row.network_ms = statistics.median(t[len(rows) + index] for t in timings)
        if sequences:
            results = evaluate([row.detector.detector for row in rows], sequences, Protocol(), progress=False)
            for row, result in zip(rows, results):
                row.repeatability = result.repeatability()

    def eligible(group: str) -> list[int]:
        """Rows of ``group`` whose accuracy holds (within 0.01 of PyTorch; int8 only when measured)."""
        members = [i for i, row in enumerate(rows) if row.group == group]
        if not sequences:
            return [i for i in members if rows[i].runtime != "onnx-int8"]
        return [i for i in members if rows[i].repeatability >= rows[members[0]].repeatability - 0.01]

    teacher = min(eligible("superpoint"), key=lambda i: rows[i].ms)
    headlines = []
    for spec in students:
        best = min(eligible(spec), key=lambda i: rows[i].ms)
        headlines.append({"student": spec, "runtime": rows[best].runtime, "ms": rows[best].ms,
                          "ratio": rows[best].ms / rows[teacher].ms,
                          "each": [t[best] / t[teacher] for t in timings]})
    return {"kind": "bench_speed", "image": list(grey.shape), "top_k": top_k, "rounds": rounds, "repeat": repeat,
            "torch_threads": torch.get_num_threads(), "opencv_threads": cv2.getNumThreads(),
            "superpoint_fastest": {"runtime": rows[teacher].runtime, "ms": rows[teacher].ms},
            "rows": [{"detector": row.detector.name, "runtime": row.runtime, "ms": row.ms, "network_ms": row.network_ms,
                      "ratio": row.ms / rows[teacher].ms, "repeatability": row.repeatability} for row in rows],
            "headlines": headlines}


def markdown(table: dict) -> str:
    accuracy = table["rows"][0]["repeatability"] is not None
    lines = [f"{table['image'][0]}x{table['image'][1]} grey uint8 in, the {table['top_k']} best keypoints out, through "
             f"distill.Detector; {table['torch_threads']} torch threads, {table['opencv_threads']} OpenCV threads, "
             f"flush-denormal on, median of {table['rounds']} rounds in turns"
             + (f", median of {table['repeat']} such timings" if table["repeat"] > 1 else ""), "",
             "| detector | runtime | ms / image | network alone (ms) | × SuperPoint's fastest |" + (" rep. (HPatches) |" if accuracy else ""),
             "|---|---|---|---|---|" + ("---|" if accuracy else "")]
    for row in table["rows"]:
        lines.append(f"| {row['detector']} | {RUNTIME_NAMES[row['runtime']]} | {row['ms']:.1f} | {row['network_ms']:.1f} | "
                     f"{row['ratio']:.3f} |" + (f" {row['repeatability']:.3f} |" if accuracy else ""))
    fastest = table["superpoint_fastest"]
    lines += ["", f"SuperPoint's fastest runtime{' where accuracy holds' if accuracy else ' (float)'}: "
                  f"{RUNTIME_NAMES[fastest['runtime']]}, {fastest['ms']:.1f} ms"]
    for headline in table["headlines"]:
        each = ", ".join(f"{value:.3f}" for value in headline["each"])
        lines.append(f"{headline['student']}: fastest runtime {RUNTIME_NAMES[headline['runtime']]} {headline['ms']:.1f} ms: "
                     f"ratio {headline['ratio']:.3f}" + (f" (each timing: {each})" if table["repeat"] > 1 else ""))
    return "\n".join(lines) + "\n"
