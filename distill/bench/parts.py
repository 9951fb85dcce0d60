"""Where a student's time goes: each part of its network (backbone, pyramid, detail branch, keypoint head, and the
descriptor branch: deeper backbone stages where it has them, pyramid, head) timed inside real end-to-end calls
through ``distill.Detector`` (PyTorch, as the Detector runs it: batch norms folded, channels-last), the rest
(resizing the input, summing the pyramid's levels, the probability, NMS, top-k, the descriptors' sampling,
conversions) as the end-to-end time minus the parts, and SuperPoint's end-to-end time in the same turns: the time a
speed target leaves, part by part.

A part's time is the wall time of its module's call, measured by a forward pre-hook and a forward hook on it
(the descriptor head runs once per image, on the cells its points read). Per round, every detector is called once
in turns (SuperPoint first), after warm-up; each figure is the median over the rounds."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from distill.allocator import keep_freed_memory
from distill.api import Detector, checkpoint_path, load_detectors
from distill.eval.speed import interleaved_ms
from distill.student.detector import student_detector
from distill.student.inference import inference_student

# (the Student's attribute, what the table calls it), in the order a call runs them
PARTS = (("backbone", "backbone"), ("fpn", "pyramid"), ("detail", "detail branch"), ("head", "keypoint head"),
         ("descriptor_stages", "descriptor stages (deeper backbone)"), ("descriptor_fpn", "descriptor pyramid"),
         ("descriptor_detail", "descriptor detail branch"), ("descriptor_head", "descriptor head"))
REST = "the rest (resizing, the levels' sum, NMS, top-k, sampling)"


class PartClock:
    """Wall ms spent in each of ``model``'s parts (:data:`PARTS` it has; the descriptor branch's only with
    ``descriptors``), one record per call: :meth:`begin` opens the next call's record."""

    def __init__(self, model: nn.Module, descriptors: bool) -> None:
        self.calls: list[dict[str, float]] = []
        self._started: dict[str, float] = {}
        self.parts = [(attribute, label) for attribute, label in PARTS if getattr(model, attribute, None) is not None
                      and (descriptors or not attribute.startswith("descriptor"))]
        for attribute, _ in self.parts:
            module = getattr(model, attribute)
            module.register_forward_pre_hook(lambda *_, name=attribute: self._start(name))
            module.register_forward_hook(lambda *_, name=attribute: self._stop(name))

    def begin(self) -> None:
        self.calls.append({attribute: 0.0 for attribute, _ in self.parts})

    def _start(self, name: str) -> None:
        self._started[name] = time.perf_counter()

    def _stop(self, name: str) -> None:
        self.calls[-1][name] += 1000 * (time.perf_counter() - self._started[name])


def bench_parts(specs: list[str], grey: np.ndarray, top_k: int = 1024, rounds: int = 15, descriptors: bool = True,
                warmup: int = 3) -> dict:
    """The table (module docstring) of each student of ``specs`` (checkpoints, ``pretrained``, ``pretrained:NAME``)
    on the ``H x W`` uint8 image ``grey``, to its ``top_k`` best keypoints (and their descriptors), on the CPU."""
    torch.set_flush_denormal(True)
    kept = keep_freed_memory()
    teacher = load_detectors(["superpoint"], "cpu")[0]
    students = []
    for spec in specs:
        model, config = inference_student(checkpoint_path(spec), "cpu")
        if descriptors and model.descriptor_head is None:
            raise ValueError(f"{spec}: no descriptor head, so nothing to time with descriptors (time its keypoints alone)")
        students.append((spec, Detector(student_detector(model, spec, config.detection)), PartClock(model, descriptors)))

    def call(detector: Detector, clock: PartClock | None = None) -> Callable[[], object]:
        def run() -> object:
            if clock is not None:
                clock.begin()
            return detector(grey, top_k=top_k, resize=None, descriptors=descriptors)
        return run

    times = interleaved_ms([call(teacher)] + [call(detector, clock) for _, detector, clock in students], warmup, rounds)
    superpoint = statistics.median(times[0])
    rows = []
    for (spec, _, clock), totals in zip(students, times[1:]):
        calls = clock.calls[warmup:]  # the timed rounds' records
        total = statistics.median(totals)
        rest = statistics.median(t - sum(parts.values()) for t, parts in zip(totals, calls))
        measured = [(label, statistics.median(parts[attribute] for parts in calls)) for attribute, label in clock.parts]
        rows.append({"student": spec, "ms": total, "ratio": total / superpoint,
                     "parts": [{"part": label, "ms": ms, "share": ms / total, "ratio": ms / superpoint}
                               for label, ms in measured + [(REST, rest)]]})
    return {"kind": "bench_parts", "image": list(grey.shape), "top_k": top_k, "descriptors": descriptors, "rounds": rounds,
            "torch_threads": torch.get_num_threads(), "freed_memory_kept": kept, "superpoint_ms": superpoint, "rows": rows}


def markdown(table: dict) -> str:
    out = "keypoints and their descriptors" if table["descriptors"] else "keypoints"
    lines = [f"{table['image'][0]}x{table['image'][1]} grey uint8 in, the {table['top_k']} best {out} out, through "
             f"distill.Detector in PyTorch; {table['torch_threads']} torch threads, median of {table['rounds']} rounds in "
             f"turns; SuperPoint end to end in the same turns: {table['superpoint_ms']:.1f} ms", ""]
    for row in table["rows"]:
        lines += [f"**{row['student']}**: {row['ms']:.1f} ms end to end, {row['ratio']:.3f} of SuperPoint's time", "",
                  "| part | ms | share of the student's time | × SuperPoint's time |", "|---|---|---|---|"]
        lines += [f"| {part['part']} | {part['ms']:.1f} | {part['share']:.2f} | {part['ratio']:.3f} |" for part in row["parts"]]
        lines.append("")
    return "\n".join(lines)
