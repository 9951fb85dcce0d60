"""Static int8 quantisation of an exported ONNX detector for ONNX Runtime (``--runtime onnx-int8``,
``distill export --format onnx --int8``).

ONNX Runtime's QDQ format: every convolution but the keypoint head's (the two nearest the output)
gets int8 weights (per output channel) and uint8 activations whose ranges are calibrated on the
embedded photos at 480x640 (never on evaluation images), each range the 0.01th to 99.99th percentile
of the values seen (min-max ranges cost SuperPoint 0.013 repeatability on hpatches-real, percentiles
0.007). The head stays float: quantised, its small differences in the logits reorder the points after
the softmax (the released detector loses 0.018 with no head convolution float, 0.012 with both; a
student with a 64-channel head loses the same either way). What the rest costs in repeatability is
measured, not assumed (``scripts/bench_speed.py --root``).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from distill.student.onnx_model import EXTRA, OnnxUnavailableError
from labels.images import embedded_images, read_grey, resize_image

CALIBRATION_SIZE = (480, 640)
# written into every int8 model: a cached <checkpoint>.int8.onnx made by another recipe is made again
RECIPE = "qdq per-channel, percentile 99.99 calibration, head's 2 convolutions float"


def calibration_images(size: tuple[int, int] = CALIBRATION_SIZE) -> list[np.ndarray]:
    """The embedded photos as ``1 x 1 x H x W`` float32 in [0, 1], resized to ``size``."""
    return [resize_image(read_grey(path), size).astype(np.float32)[None, None] / 255 for path in embedded_images()]


def head_convolutions(model, count: int = 2) -> list[str]:
    """Names of the ``count`` convolutions nearest to the model's first output (walking back through
    its inputs): the keypoint head, kept float."""
    producer = {output: node for node in model.graph.node for output in node.output}
    frontier, seen, found = [model.graph.output[0].name], set(), []
    while frontier and len(found) < count:
        node = producer.get(frontier.pop(0))
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "Conv":
            found.append(node.name)
        frontier += list(node.input)
    if not found:
        raise ValueError("the model has no convolution before its output")
    return found


def quantize_int8(source: Path, out: Path, images: list[np.ndarray] | None = None, input_name: str = "image") -> Path:
    """Write the int8 version of the float ONNX model ``source`` to ``out``, calibrated on ``images``
    (default: :func:`calibration_images`); the model's metadata (stride, detection settings) is kept."""
    try:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        raise OnnxUnavailableError(f"int8 quantisation needs the [onnx] extra: {EXTRA}") from None

    batches = iter(calibration_images() if images is None else images)

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict | None:
            image = next(batches, None)
            return None if image is None else {input_name: image}

    model = onnx.load(str(source))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        inline, prepared = Path(folder) / "inline.onnx", Path(folder) / "prepared.onnx"
        onnx.save(model, str(inline))  # weights inline: the exporter may have put them beside the model
        quant_pre_process(str(inline), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                        nodes_to_exclude=head_convolutions(model), calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"CalibPercentile": 99.99})
    quantized = onnx.load(str(out))
    onnx.helper.set_model_props(quantized, {**{p.key: p.value for p in model.metadata_props}, "distill.int8": RECIPE})
    onnx.save(quantized, str(out))
    return out
