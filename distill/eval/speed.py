"""Speed: median milliseconds per image, from the image to the final keypoints (NMS and top-k
included), after warm-up, on the detector's device."""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from distill.detection.detector import ScoreMapDetector, detect


def interleaved_median_ms(detectors: list[ScoreMapDetector], grey: np.ndarray, top_k: int, nms_radius: int = 4,
                          warmup: int = 3, rounds: int = 15) -> list[float]:
    """Median ms per image of each detector, timed in turns (one image each per round), so that a
    shared machine's slow minutes weigh on every detector alike and their ratios stay comparable."""
    syncs = [torch.cuda.synchronize if d.device.startswith("cuda") else (lambda: None) for d in detectors]
    for _ in range(warmup):
        for detector in detectors:
            detect(detector, grey, nms_radius, top_k)
    times: list[list[float]] = [[] for _ in detectors]
    for _ in range(rounds):
        for detector, sync, spent in zip(detectors, syncs, times):
            sync()
            start = time.perf_counter()
            detect(detector, grey, nms_radius, top_k)
            sync()
            spent.append(time.perf_counter() - start)
    return [1000 * statistics.median(spent) for spent in times]
