"""Speed: median milliseconds per call, after warm-up, timed in turns: one call of each per round, so that
a shared machine's slow minutes weigh on every detector alike and their ratios stay comparable."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from distill.detection.detector import ScoreMapDetector, detect
from teachers.config import DetectionConfig


def interleaved_ms(calls: list[Callable[[], object]], warmup: int = 3, rounds: int = 15,
                   sync: Callable[[], None] = lambda: None) -> list[list[float]]:
    """Ms of each call in each of ``rounds`` rounds, after ``warmup`` untimed rounds (``sync`` waits for a GPU before
    and after each call)."""
    for _ in range(warmup):
        for call in calls:
            call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for call, spent in zip(calls, times):
            sync()
            start = time.perf_counter()
            call()
            sync()
            spent.append(1000 * (time.perf_counter() - start))
    return times


def interleaved_median_ms(calls: list[Callable[[], object]], warmup: int = 3, rounds: int = 15,
                          sync: Callable[[], None] = lambda: None) -> list[float]:
    """Median ms of each call over ``rounds`` rounds (:func:`interleaved_ms`)."""
    return [statistics.median(spent) for spent in interleaved_ms(calls, warmup, rounds, sync)]


def detection_ms(detectors: list[ScoreMapDetector], grey: np.ndarray, top_k: int, nms_radius: int = DetectionConfig.nms_radius,
                 warmup: int = 3, rounds: int = 15) -> list[float]:
    """Median ms per image of each detector, from the grey image to its final keypoints (NMS and top-k included)."""
    sync = torch.cuda.synchronize if any(d.device.startswith("cuda") for d in detectors) else (lambda: None)
    return interleaved_median_ms([lambda d=d: detect(d, grey, nms_radius, top_k) for d in detectors], warmup, rounds, sync)
