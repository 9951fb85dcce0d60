"""Labelling cost against its floor: homographic adaptation with N views can't be cheaper than N single teacher
forward passes, unless batching the warps makes each pass cheaper (on an accelerator). Seconds per image for each
batch size and the ratio to N single passes, all measured in one run on the same images and device, then what
``--lightglue`` adds per image."""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from labels.images import embedded_images, read_grey, resize_image
from teachers.adaptation import homographic_adaptation
from teachers.config import AdaptationConfig, PairConfig
from teachers.lightglue import match_warped_pair, pair_matcher
from teachers.superpoint import SuperPoint


def bench_labelling(device: str = "cpu", count: int = 3, size: tuple[int, int] = (240, 320),
                    homographies: tuple[int, ...] = (1, 10, 100), batch_sizes: tuple[int, ...] = (1,)) -> dict:
    """``{"forward_ms", "rows": [{N, batch_size, seconds_per_image, floor_seconds, ratio}], "lightglue_seconds"}`` on the
    first ``count`` embedded photos at ``size``: every N with the warps run ``batch_size`` per teacher forward."""
    teacher = SuperPoint.pretrained(device=device)
    images = [torch.from_numpy(resize_image(read_grey(p), size).astype(np.float32) / 255)[None] for p in embedded_images()[:count]]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def seconds(call) -> float:
        sync()
        start = time.perf_counter()
        call()
        sync()
        return time.perf_counter() - start

    with torch.inference_mode():
        for _ in range(3):
            teacher(images[0][None].to(device))
        forward = statistics.median(seconds(lambda: teacher(image[None].to(device))) for image in images * 5)
    rows = []
    for n in homographies:
        config = AdaptationConfig(num_homographies=n)
        for batch in batch_sizes:
            per_image = statistics.median(seconds(lambda: homographic_adaptation(teacher, image, config, seed=seed, batch_size=batch))
                                          for seed, image in enumerate(images))
            rows.append({"homographies": n, "batch_size": batch, "seconds_per_image": per_image, "floor_seconds": n * forward,
                         "ratio": per_image / (n * forward)})
    matcher = pair_matcher(PairConfig(), device)
    pair = statistics.median(seconds(lambda: match_warped_pair(teacher, matcher, image, PairConfig(), seed))
                             for seed, image in enumerate(images))
    return {"kind": "bench_labels", "device": device, "threads": torch.get_num_threads(), "size": list(size), "images": count,
            "forward_ms": 1000 * forward, "rows": rows, "lightglue_seconds": pair}


def markdown(table: dict) -> str:
    h, w = table["size"]
    lines = [f"device {table['device']}, {table['threads']} threads, {h}x{w}, {table['images']} embedded photos; "
             f"one teacher forward: {table['forward_ms']:.1f} ms (median)", "",
             "| N | warps per forward | s / image | N single forwards (s) | ratio |", "|---|---|---|---|---|"]
    lines += [f"| {r['homographies']} | {r.get('batch_size', 1)} | {r['seconds_per_image']:.3f} | {r['floor_seconds']:.3f} | {r['ratio']:.2f} |"
              for r in table["rows"]]
    last = min((r for r in table["rows"] if r["homographies"] == table["rows"][-1]["homographies"]), key=lambda r: r["seconds_per_image"])
    lines += ["", f"--lightglue adds {table['lightglue_seconds']:.3f} s/image (2 teacher passes + LightGlue): "
                  f"+{table['lightglue_seconds'] / last['seconds_per_image']:.1%} on top of N={last['homographies']}"]
    return "\n".join(lines) + "\n"
