"""Speed of the SuperPoint teacher and of students in every runtime available here, timed in one run:
median ms per 480x640 grey image, end to end (image to keypoints: the network, NMS radius 4 and the
300 best), detectors in turns (one image each per round, so that a shared machine's drift weighs on
all alike), after warm-up. Denormal floats are flushed to zero in every runtime (an untrained network
can otherwise run many times slower on the CPU). The headline is the ratio of the student's fastest
runtime to SuperPoint's fastest runtime. int8 (ONNX Runtime, static quantisation calibrated on the
embedded photos) counts only where its accuracy holds: with ``--root``, every row also gets its
repeatability on that HPatches folder (standard protocol), and a runtime competes for the headline
when it stays within 0.01 of the same network in PyTorch; without ``--root`` int8 rows are shown but
left out of the headline. With ``--repeat N`` the timing is done N times in the same process (the
table shows the median of the N medians) and every headline ratio is printed with its N values: on
a shared machine the ratio of a small network drifts more than its teacher's (many short kernels,
each waiting for a thread to wake), and one timing can mislead.

    python scripts/bench_speed.py --checkpoint runs/NAME/last.pt [--checkpoint ...] [--rounds 15] [--repeat 1] [--root HPATCHES]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import cv2
import torch

from distill.detection.by_name import build_detectors
from distill.detection.detector import ScoreMapDetector, to_tensor
from distill.eval.protocol import Protocol, evaluate
from distill.eval.sequences import load_hpatches
from distill.eval.speed import interleaved_median_ms
from distill.student.checkpoint import load_student
from distill.student.detector import checkpoint_detector, student_detector
from distill.student.onnx_model import export_graph, onnx_detector
from distill.student.quantize import quantize_int8
from labels.images import embedded_images, read_grey, resize_image
from teachers.config import DetectionConfig
from teachers.superpoint import SuperPoint


def superpoint_onnx(folder: Path) -> list[ScoreMapDetector]:
    """SuperPoint's probability map in ONNX Runtime, float and int8 (exported here, dynamic height and width)."""
    teacher = SuperPoint.pretrained().eval()

    class Probability(torch.nn.Module):
        def forward(self, image):
            return teacher(image).probability

    path = folder / "superpoint.onnx"
    export_graph(Probability().eval(), path, ["probability"], stride=8)
    detectors = [onnx_detector(path, name="superpoint (onnx)"),
                 onnx_detector(quantize_int8(path, folder / "superpoint.int8.onnx"), name="superpoint (onnx int8)")]
    for detector in detectors:
        detector.threshold = DetectionConfig.threshold  # SuperPoint's, as in superpoint_detector
    return detectors


def runtime_of(name: str) -> str:
    return ("ONNX Runtime int8 (CPU)" if "int8" in name else "ONNX Runtime (CPU)" if "onnx" in name
            else "PyTorch, channels_last" if "channels_last" in name else "PyTorch eager")


def channels_last(checkpoint: Path) -> ScoreMapDetector:
    model, config = load_student(checkpoint)
    model = model.to(memory_format=torch.channels_last)
    base = student_detector(model, f"student:{checkpoint.parent.name}/{checkpoint.stem} (channels_last)", config.detection)

    @torch.inference_mode()
    def score(grey):
        return model.probability_map(to_tensor(grey, "cpu").contiguous(memory_format=torch.channels_last))[0]

    return ScoreMapDetector(base.name, score, base.threshold, base.nms_radius)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, action="append", required=True)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--root", type=Path, help="HPatches folder: add every row's repeatability (standard protocol)")
    parser.add_argument("--repeat", type=int, default=1, help="time every detector this many times (in turns each time) and "
                        "print each headline ratio's values")
    args = parser.parse_args()
    if args.repeat < 1 or args.rounds < 1:
        parser.error("--repeat and --rounds must be at least 1")
    torch.set_flush_denormal(True)
    image = resize_image(read_grey(embedded_images()[0]), (480, 640))
    with tempfile.TemporaryDirectory() as folder:
        groups = [[build_detectors(["superpoint"])[0], *superpoint_onnx(Path(folder))]]
        for checkpoint in args.checkpoint:
            groups.append([checkpoint_detector(checkpoint), channels_last(checkpoint), checkpoint_detector(checkpoint, runtime="onnx"),
                           checkpoint_detector(checkpoint, runtime="onnx-int8")])
        detectors = [d for group in groups for d in group]
        repeats = [dict(zip([d.name for d in detectors], interleaved_median_ms(detectors, image, top_k=300, nms_radius=4, rounds=args.rounds)))
                   for _ in range(args.repeat)]
        times = {d.name: statistics.median(r[d.name] for r in repeats) for d in detectors}
        accuracy = {}
        if args.root:
            results = evaluate(detectors, load_hpatches(args.root), Protocol(), progress=False)
            accuracy = {d.name: r.repeatability() for d, r in zip(detectors, results)}

    def eligible(group: list[ScoreMapDetector]) -> list[ScoreMapDetector]:
        """The runtimes whose accuracy holds (within 0.01 of PyTorch eager; int8 only when measured)."""
        if not accuracy:
            return [d for d in group if "int8" not in d.name]
        return [d for d in group if accuracy[d.name] >= accuracy[group[0].name] - 0.01]

    fastest = min(eligible(groups[0]), key=lambda d: times[d.name])
    teacher_best = times[fastest.name]
    print(f"480x640, {torch.get_num_threads()} CPU threads, {cv2.getNumThreads()} OpenCV threads, flush-denormal on, "
          f"median of {args.rounds} rounds in turns" + (f", median of {args.repeat} such timings" if args.repeat > 1 else "") + "\n")
    print("| detector | runtime | ms / image | × SuperPoint's fastest |" + (" rep. (HPatches) |" if accuracy else "")
          + "\n|---|---|---|---|" + ("---|" if accuracy else ""))
    for detector in detectors:
        row = f"| {detector.name} | {runtime_of(detector.name)} | {times[detector.name]:.1f} | {times[detector.name] / teacher_best:.3f} |"
        print(row + (f" {accuracy[detector.name]:.3f} |" if accuracy else ""))
    print(f"\nSuperPoint's fastest runtime{' where accuracy holds' if accuracy else ' (float)'}: {runtime_of(fastest.name)}, "
          f"{teacher_best:.1f} ms")
    for checkpoint, group in zip(args.checkpoint, groups[1:]):
        best = min(eligible(group), key=lambda d: times[d.name])
        each = ", ".join(f"{r[best.name] / r[fastest.name]:.3f}" for r in repeats)
        print(f"{checkpoint}: fastest runtime {runtime_of(best.name)} {times[best.name]:.1f} ms against SuperPoint's fastest "
              f"{teacher_best:.1f} ms: ratio {times[best.name] / teacher_best:.3f}" + (f" (each timing: {each})" if args.repeat > 1 else ""))


if __name__ == "__main__":
    main()
