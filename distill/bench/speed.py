"""Speed of the SuperPoint teacher and of students in every runtime available here (and, for reference, of
classical detectors in OpenCV), timed in one run, end
to end as a user calls them: ``distill.Detector(grey, resize=None)`` on a 480x640 grey uint8 image (at its own
480x640: the default working resolution would detect at 384x512), to the ``top_k`` best keypoints after NMS (no
descriptors; with ``descriptors``, keypoints and their descriptors, as a matcher takes them), median ms, detectors
in turns (one image each per round, so that a shared machine's drift weighs on all alike), after warm-up. Beside it,
the network's score map alone, so that what the API adds (input checks, NMS, top-k, conversions, descriptors) is in
the table. Denormal floats are flushed to zero in every runtime, and freed memory stays in the process
(:func:`distill.allocator.keep_freed_memory`: SuperPoint in PyTorch no longer faults in its activations' pages
anew). SuperPoint runs its ONNX models (:mod:`distill.student.superpoint_onnx`), exported as a student's are.

The headline is the ratio of each student's fastest runtime to SuperPoint's fastest. int8 counts only where
its accuracy holds: with HPatches sequences, every row also gets its accuracy, and a runtime competes for the
headline when it stays within 0.01 of the same network in PyTorch; without them int8 rows are shown but left
out of the headline. The accuracy is the repeatability (standard protocol), or with ``descriptors`` the homography
AUC@3px of matching with the stock LightGlue (:mod:`distill.eval.matching`'s protocol: 480x640, 1024 points), the
mean over 25 RANSAC draws per pair, so that the 0.01 a runtime may lose is not one draw's luck.
With ``repeat`` the timing is done that many times (the table shows the median of the medians) and each headline
ratio is given with every value."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from distill.allocator import keep_freed_memory
from distill.api import Detector, load_detectors
from distill.choices import RUNTIMES
from distill.student.superpoint_onnx import SUPERPOINT_RUNTIMES, superpoint_onnx_detector
from distill.eval.matching import MatchingProtocol, evaluate_matching, lightglue_matchers, lightglue_threshold, network_extractor
from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import Sequence
from distill.eval.speed import interleaved_median_ms

RUNTIME_NAMES = {"torch": "PyTorch", "onnx": "ONNX Runtime", "onnx-int8": "ONNX Runtime int8", "opencv": "OpenCV"}


class NoDescriptorsError(ValueError):
    """A timing with descriptors was asked of a detector that has none."""


@dataclass
class Row:
    group: str  # superpoint, a classical detector's name, or the student's spec
    runtime: str
    detector: Detector
    ms: float = 0.0
    network_ms: float = 0.0
    accuracy: float | None = None  # repeatability, or with descriptors matching AUC@3px


def superpoint_rows() -> list[Row]:
    """SuperPoint in PyTorch and in ONNX Runtime, float and int8."""
    rows = [Row("superpoint", "torch", load_detectors(["superpoint"], "cpu")[0])]
    return rows + [Row("superpoint", runtime, Detector(superpoint_onnx_detector(runtime))) for runtime in SUPERPOINT_RUNTIMES]


MATCHING_DRAWS = 25  # RANSAC draws per pair: on 30 pairs one draw moves AUC@3px by about 0.01, the margin int8 is held to


def matching_auc(rows: list[Row], sequences: list[Sequence]) -> list[float]:
    """Homography AUC@3px of each row's keypoints and descriptors matched by the stock LightGlue (above each
    detector's own confidence threshold), the mean over :data:`MATCHING_DRAWS` RANSAC draws per pair."""
    protocol = MatchingProtocol(ransac_draws=MATCHING_DRAWS)
    lightglue = lightglue_matchers("cpu", protocol)
    methods = {str(i): (network_extractor(row.detector.detector, protocol),
                        lightglue(lightglue_threshold(row.detector.detector, protocol))) for i, row in enumerate(rows)}
    return [result.auc(3.0) for result in evaluate_matching(methods, sequences, protocol, progress=False)]


def bench_speed(students: list[str], grey: np.ndarray, top_k: int = 300, rounds: int = 15, repeat: int = 1,
                sequences: list[Sequence] | None = None, classical: list[str] = (), descriptors: bool = False) -> dict:
    """The table (``rows``: detector, runtime, ms, network ms, × SuperPoint's fastest, accuracy) and the
    headline ratios, every detector on the CPU; ``classical`` detectors (OpenCV, by name) are timed in the same
    turns, for reference (keypoints only: not with ``descriptors``)."""
    if descriptors and classical:
        raise ValueError("classical detectors are timed for their keypoints only: leave them out of a timing with descriptors")
    torch.set_flush_denormal(True)
    kept = keep_freed_memory()  # for every detector alike, as the command line runs them
    rows = superpoint_rows()
    rows += [Row(name, "opencv", load_detectors([name], "cpu")[0]) for name in classical]
    for spec in students:
        rows += [Row(spec, runtime, load_detectors([spec], "cpu", runtime)[0]) for runtime in RUNTIMES]
    undescribed = sorted({row.group for row in rows if descriptors and row.detector.detector.describe is None})
    if undescribed:
        raise NoDescriptorsError(f"{', '.join(undescribed)}: no descriptor head, so nothing to time with descriptors")
    calls = [lambda d=row.detector: d(grey, top_k=top_k, resize=None, descriptors=descriptors) for row in rows]
    networks = [lambda d=row.detector.detector: d.score_map(grey) for row in rows]
    timings = [interleaved_median_ms(calls + networks, rounds=rounds) for _ in range(repeat)]
    for index, row in enumerate(rows):
        row.ms = statistics.median(t[index] for t in timings)
        row.network_ms = statistics.median(t[len(rows) + index] for t in timings)
    if sequences and descriptors:
        for row, auc in zip(rows, matching_auc(rows, sequences)):
            row.accuracy = auc
    elif sequences:
        results = evaluate([row.detector.detector for row in rows], sequences, Protocol(), progress=False)
        for row, result in zip(rows, results):
            row.accuracy = result.repeatability()

    def eligible(group: str) -> list[int]:
        """Rows of ``group`` whose accuracy holds (within 0.01 of PyTorch; int8 only when measured)."""
        members = [i for i, row in enumerate(rows) if row.group == group]
        if not sequences:
            return [i for i in members if rows[i].runtime != "onnx-int8"]
        return [i for i in members if rows[i].accuracy >= rows[members[0]].accuracy - 0.01]

    teacher = min(eligible("superpoint"), key=lambda i: rows[i].ms)
    headlines = []
    for spec in students:
        best = min(eligible(spec), key=lambda i: rows[i].ms)
        headlines.append({"student": spec, "runtime": rows[best].runtime, "ms": rows[best].ms,
                          "ratio": rows[best].ms / rows[teacher].ms,
                          "each": [t[best] / t[teacher] for t in timings]})
    return {"kind": "bench_speed", "image": list(grey.shape), "top_k": top_k, "descriptors": descriptors,
            "accuracy": None if not sequences else f"matching AUC@3px ({MATCHING_DRAWS} RANSAC draws)" if descriptors else "repeatability",
            "rounds": rounds, "repeat": repeat,
            "torch_threads": torch.get_num_threads(), "freed_memory_kept": kept, "opencv_threads": cv2.getNumThreads(),
            "superpoint_fastest": {"runtime": rows[teacher].runtime, "ms": rows[teacher].ms},
            "rows": [{"detector": row.detector.name, "runtime": row.runtime, "ms": row.ms, "network_ms": row.network_ms,
                      "ratio": row.ms / rows[teacher].ms, "accuracy": row.accuracy} for row in rows],
            "headlines": headlines}


def markdown(table: dict) -> str:
    measure = table["accuracy"]
    label = ("rep. (HPatches)" if measure == "repeatability" else
             f"AUC@3px (HPatches, LightGlue, {MATCHING_DRAWS} RANSAC draws)" if measure else None)
    out = "keypoints and their descriptors" if table["descriptors"] else "keypoints"
    lines = [f"{table['image'][0]}x{table['image'][1]} grey uint8 in, the {table['top_k']} best {out} out, through "
             f"distill.Detector; {table['torch_threads']} torch threads, {table['opencv_threads']} OpenCV threads, "
             f"flush-denormal on, {'freed memory kept in the process' if table.get('freed_memory_kept') else 'the allocator as the environment sets it'}"
             f" (distill.allocator), median of {table['rounds']} rounds in turns"
             + (f", median of {table['repeat']} such timings" if table["repeat"] > 1 else ""), "",
             "| detector | runtime | ms / image | score map alone (ms) | × SuperPoint's fastest |" + (f" {label} |" if measure else ""),
             "|---|---|---|---|---|" + ("---|" if measure else "")]
    for row in table["rows"]:
        lines.append(f"| {row['detector']} | {RUNTIME_NAMES[row['runtime']]} | {row['ms']:.1f} | {row['network_ms']:.1f} | "
                     f"{row['ratio']:.3f} |" + (f" {row['accuracy']:.3f} |" if measure else ""))
    fastest = table["superpoint_fastest"]
    lines += ["", f"SuperPoint's fastest runtime{' where accuracy holds' if measure else ' (float)'}: "
                  f"{RUNTIME_NAMES[fastest['runtime']]}, {fastest['ms']:.1f} ms"]
    for headline in table["headlines"]:
        each = ", ".join(f"{value:.3f}" for value in headline["each"])
        lines.append(f"{headline['student']}: fastest runtime {RUNTIME_NAMES[headline['runtime']]} {headline['ms']:.1f} ms: "
                     f"ratio {headline['ratio']:.3f}" + (f" (each timing: {each})" if table["repeat"] > 1 else ""))
    return "\n".join(lines) + "\n"
