"""A label store of synthetic shapes: exact corners instead of a teacher, same schema, no teacher
time. Image ``i`` is always the same for a given seed and configuration, so a larger run reuses a
smaller one's images."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from labels.config import SCHEMA_VERSION, config_hash
from labels.images import content_key
from labels.run import RunSummary
from labels.store import ImageLabels, StoreWriter
from labels.synthetic_shapes import ShapesConfig, generate


def corner_heatmap(corners: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``H x W`` float32 map, 1 at the pixel nearest each corner, 0 elsewhere."""
    heatmap = np.zeros(shape, np.float32)
    heatmap[np.round(corners[:, 1]).astype(int), np.round(corners[:, 0]).astype(int)] = 1.0
    return heatmap


def write_synthetic_store(count: int, config: ShapesConfig, seed: int, out_dir: Path, progress: bool = True,
                          commit_seconds: float = 10.0) -> RunSummary:
    defining = {"teacher": "synthetic", "shapes": config.as_dict(), "seed": seed, "schema_version": SCHEMA_VERSION}
    digest = config_hash(defining)
    index = Path(out_dir) / f"synthetic-{digest}.h5"
    attrs = {"config_yaml": yaml.safe_dump(defining, sort_keys=True), "store_hash": digest, "teacher": "synthetic",
             "label_size": np.asarray(config.size)}
    summary = RunSummary(store=index, total=count)
    start = time.perf_counter()
    with StoreWriter(index, attrs, commit_seconds=commit_seconds) as store:
        for i in tqdm(range(count), desc=f"drawing {index.name}", unit="img", disable=not progress, dynamic_ncols=True):
            image, corners, primitive = generate(i, seed, config)
            key = content_key(image.tobytes())
            if key in store:
                summary.reused += 1
                continue
            store.add(key, ImageLabels(
                heatmap=corner_heatmap(corners, config.size),
                variance=np.zeros(config.size, np.float32),
                count=np.ones(config.size, np.uint8),
                keypoints=corners,
                scores=np.ones(len(corners), np.float32),
                source_path=f"synthetic:seed={seed}:index={i}:{primitive}",
                original_size=config.size,
                image=image,
            ))
            summary.labelled += 1
    summary.seconds = time.perf_counter() - start
    return summary
