"""Speed: median milliseconds per image, from the image to the final keypoints (NMS and top-k
included), after warm-up, on the detector's device."""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from distill.eval.detectors import Detector, detect


def median_ms(detector: Detector, grey: np.ndarray, top_k: int, nms_radius: int = 4,
              warmup: int = 3, repeats: int = 10) -> float:
    sync = torch.cuda.synchronize if detector.device.startswith("cuda") else (lambda: None)
    for _ in range(warmup):
        detect(detector, grey, nms_radius, top_k)
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        detect(detector, grey, nms_radius, top_k)
        sync()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)
