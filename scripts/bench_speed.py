"""Speed of the SuperPoint teacher and of students in every runtime available here, timed in one run:
median ms per 480x640 grey image, end to end (image to keypoints: the network, NMS radius 4 and the
300 best), detectors in turns (one image each per round, so that a shared machine's drift weighs on
all alike), after warm-up. Denormal floats are flushed to zero in every runtime (an untrained network
can otherwise run many times slower on the CPU). The headline is the ratio of the student's fastest
runtime to SuperPoint's fastest runtime.

    python scripts/bench_speed.py --checkpoint runs/NAME/last.pt [--checkpoint ...] [--rounds 15]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import torch

from distill.eval.detectors import ScoreMapDetector, build_detectors, to_tensor
from distill.eval.speed import interleaved_median_ms
from distill.student.checkpoint import load_student
from distill.student.detector import checkpoint_detector, student_detector
from distill.student.onnx_model import onnx_detector
from labels.images import embedded_images, read_grey, resize_image
from teachers.superpoint import SuperPoint


def superpoint_onnx(folder: Path) -> ScoreMapDetector:
    """SuperPoint's probability map in ONNX Runtime (exported here; the teacher needs no dynamic shape tricks)."""
    teacher = SuperPoint.pretrained()

    class Probability(torch.nn.Module):
        def forward(self, image):
            return teacher(image).probability

    path = folder / "superpoint.onnx"
    torch.onnx.export(Probability(), (torch.rand(1, 1, 480, 640),), str(path), dynamo=True, input_names=["image"],
                      output_names=["probability"], opset_version=18)
    detector = onnx_detector(path, name="superpoint (onnx)")
    detector.threshold = build_detectors(["superpoint"])[0].threshold
    return detector


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
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    image = resize_image(read_grey(embedded_images()[0]), (480, 640))
    with tempfile.TemporaryDirectory() as folder:
        teachers = [build_detectors(["superpoint"])[0], superpoint_onnx(Path(folder))]
        students = []
        for checkpoint in args.checkpoint:
            students.append([checkpoint_detector(checkpoint), channels_last(checkpoint), checkpoint_detector(checkpoint, runtime="onnx")])
        detectors = teachers + [d for group in students for d in group]
        times = interleaved_median_ms(detectors, image, top_k=300, nms_radius=4, rounds=args.rounds)
    by_name = dict(zip([d.name for d in detectors], times))
    teacher_best = min(times[:2])
    print(f"480x640, {torch.get_num_threads()} CPU threads, {cv2.getNumThreads()} OpenCV threads, flush-denormal on, "
          f"median of {args.rounds} rounds in turns\n")
    print("| detector | runtime | ms / image | × SuperPoint's fastest |\n|---|---|---|---|")
    for detector, ms in zip(detectors, times):
        runtime = "ONNX Runtime (CPU)" if "onnx" in detector.name else ("PyTorch, channels_last" if "channels_last" in detector.name
                                                                        else "PyTorch eager")
        print(f"| {detector.name} | {runtime} | {ms:.1f} | {ms / teacher_best:.3f} |")
    for checkpoint, group in zip(args.checkpoint, students):
        best = min(by_name[d.name] for d in group)
        print(f"\n{checkpoint}: fastest runtime {best:.1f} ms against SuperPoint's fastest {teacher_best:.1f} ms: "
              f"ratio {best / teacher_best:.3f}")


if __name__ == "__main__":
    main()
