"""Would OpenVINO, Intel's CPU runtime, bring the releases nearer their speed targets? Times each exported network
(SuperPoint, the default release, the fast release; float and int8, the very ONNX files ``--runtime onnx`` and
``onnx-int8`` run) in ONNX Runtime and in OpenVINO, float32 and, where the processor has it, bfloat16, on one
480x640 embedded photo, every network in turns, and prints each one's ms and its ratio to SuperPoint in the same
runtime and to SuperPoint's fastest. The whole graph runs (score map and descriptors), without the keypoint
extraction that ``distill.Detector`` adds to each student. Needs ``pip install openvino`` beside the ``[onnx]``
extra.

    python scripts/experiments/openvino_speed.py --rounds 15
"""
from __future__ import annotations

import argparse


def sessions(path: str, image, threads: int) -> dict:
    """Runtime name -> a call that runs the model at ``path`` once on ``image`` (``1 x 1 x H x W`` float32)."""
    import onnxruntime as ort
    import openvino as ov

    from distill.student.onnx_model import session_options

    session = ort.InferenceSession(path, session_options(threads), providers=["CPUExecutionProvider"])
    calls = {"ONNX Runtime": lambda: session.run(None, {"image": image})}
    core = ov.Core()
    precisions = ["f32"] + (["bf16"] if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else [])
    for precision in precisions if ".int8." not in path else ["f32"]:
        model = core.read_model(path)
        model.reshape({"image": list(image.shape)})  # its CPU plugin fails on the students' resize with dynamic shapes
        compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                                     "INFERENCE_PRECISION_HINT": precision})
        request = compiled.create_infer_request()
        calls["OpenVINO" + (" bf16" if precision == "bf16" else "")] = lambda request=request: request.infer({"image": image})
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    try:
        import openvino  # noqa: F401
    except ImportError:
        raise SystemExit("this experiment needs OpenVINO: pip install openvino") from None
    import numpy as np

    from distill.eval.speed import interleaved_median_ms
    from distill.pretrained import RELEASES, packaged
    from distill.student.superpoint_onnx import superpoint_onnx_model
    from labels.images import embedded_images, read_grey, resize_image

    image = (resize_image(read_grey(embedded_images()[0]), (480, 640)).astype(np.float32) / 255)[None, None]
    models = {"SuperPoint": (str(superpoint_onnx_model(int8=False)), str(superpoint_onnx_model(int8=True))),
              **{f"{name} release": (str(packaged(*RELEASES[name].onnx)), str(packaged(*RELEASES[name].int8)))
                 for name in ("default", "fast")}}
    rows, calls = [], []
    for network, (float_model, int8_model) in models.items():
        for path, suffix in ((float_model, ""), (int8_model, " int8")):
            for runtime, call in sessions(path, image, args.threads).items():
                rows.append((network, runtime + suffix))
                calls.append(call)
    ms = dict(zip(rows, interleaved_median_ms(calls, rounds=args.rounds)))
    fastest = min(t for (network, _), t in ms.items() if network == "SuperPoint")
    print(f"480x640, {args.threads} threads, median of {args.rounds} rounds in turns, the whole graph")
    print("| network | runtime | ms | x SuperPoint, same runtime | x SuperPoint's fastest |")
    print("|---|---|---|---|---|")
    for (network, runtime), t in ms.items():
        print(f"| {network} | {runtime} | {t:.1f} | {t / ms['SuperPoint', runtime]:.3f} | {t / fastest:.3f} |")


if __name__ == "__main__":
    main()
