"""Static int8 quantisation of an exported ONNX detector for ONNX Runtime (``--runtime onnx-int8``,
``distill export --format onnx --int8``).

ONNX Runtime's QDQ format: every convolution gets int8 weights (per output channel) and uint8
activations (ReLUs, clips, max-pooling and concatenations run on them too) whose ranges are calibrated on the
embedded photos at 480x640 (never on evaluation images), each range the 0.01th to 99.99th percentile
of the values seen (min-max ranges cost SuperPoint 0.013 repeatability on hpatches-real, percentiles
0.007). The keypoint head quantises too once a student's export has balanced its input
(:mod:`distill.student.balance`); before that, the head's two convolutions had to stay float (about
4 of the 17 ms of a small student). What int8 costs in repeatability is measured, not assumed
(``scripts/bench_speed.py --root``).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from distill.student.balance import calibration_images
from distill.student.onnx_model import EXTRA, OnnxUnavailableError, save_atomically

# written into every int8 model: a cached int8 model made by another recipe is made again (distill.student.onnx_cache)
RECIPE = "qdq per-channel, percentile 99.99 calibration, every convolution, activation, max-pool and concat int8"
# ReLU and clip (ReLU6) fold into the convolution before them, max-pooling runs on uint8: without them,
# each sits between a dequantise and a quantise node (SuperPoint: 90 instead of 68 ms at 480x640); a student's
# concatenation of pyramid and detail features in uint8 saves a dequantise and a float copy (3-4% of the fast
# student's int8 time, repeatability unchanged or up to 0.002 higher on hpatches-real)
QUANTISED_OPS = ["Conv", "Relu", "Clip", "MaxPool", "Concat"]


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
    with tempfile.TemporaryDirectory() as folder:
        inline, prepared = Path(folder) / "inline.onnx", Path(folder) / "prepared.onnx"
        onnx.save(model, str(inline))  # weights inline: the exporter may have put them beside the model
        quant_pre_process(str(inline), str(prepared), skip_symbolic_shape=True)
        int8_file = Path(folder) / "int8.onnx"
        quantize_static(str(prepared), str(int8_file), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=QUANTISED_OPS,
                        calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"CalibPercentile": 99.99})
        quantized = onnx.load(str(int8_file))
    onnx.helper.set_model_props(quantized, {**{p.key: p.value for p in model.metadata_props}, "distill.int8": RECIPE})
    save_atomically(quantized, out)
    return out
