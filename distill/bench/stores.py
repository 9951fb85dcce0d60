"""What the label store's single-writer design costs as a data set grows: merging the shard stores of a sharded
labelling run (2, 4, 8 shards of one image set), re-opening a store for writing, and rebuilding a store's index (written at every commit of a
labelling run and at every merge), timed on stores of stand-in labels of the real size and format (240x320,
SuperPoint-like sparse heatmaps, gzip as the store writes them). A labelling run on a CPU commits about every image
(N = 100 takes longer than ``runtime.commit_seconds``), so its segments hold one image each, as here."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from labels.merge import merge_stores
from labels.store import ImageLabels, StoreWriter, write_index


def stand_in_labels(rng: np.random.Generator, size: tuple[int, int]) -> ImageLabels:
    """Labels of the stored size and sparsity: a heatmap near zero but for ~200 peaks, a grey image."""
    heatmap = np.zeros(size, np.float32)
    ys, xs = rng.integers(0, size[0], 200), rng.integers(0, size[1], 200)
    heatmap[ys, xs] = rng.random(200)
    return ImageLabels(heatmap=heatmap, variance=heatmap / 10, count=np.full(size, 100, np.uint8),
                       keypoints=np.stack([xs, ys], 1).astype(np.float32), scores=heatmap[ys, xs], source_path="stand-in",
                       original_size=size, image=rng.integers(0, 256, size, dtype=np.uint8))


def write_shards(folder: Path, images: int, shards: int, size: tuple[int, int]) -> list[Path]:
    """``shards`` stores (``stand-in-shard<i>of<n>.h5``) holding ``images`` stand-in images in all, one per segment."""
    rng = np.random.default_rng(0)
    attrs = {"store_hash": "stand-in", "config_yaml": "{}", "teacher": "superpoint", "label_size": np.asarray(size)}
    paths = []
    for index in range(shards):
        path = folder / f"stand-in-shard{index + 1}of{shards}.h5"
        with StoreWriter(path, attrs, commit_seconds=0) as writer:  # a commit after every image
            for number in range(index, images, shards):
                writer.add(f"{number:016x}", stand_in_labels(rng, size))
        paths.append(path)
    return paths


def bench_stores(images: int = 1000, shards: tuple[int, ...] = (2, 4, 8),
                 index_sizes: tuple[int, ...] = (1_000, 10_000, 100_000), size: tuple[int, int] = (240, 320)) -> dict:
    """``{"merge": [{shards, seconds, megabytes, images, open_seconds}], "index": [{images, seconds}]}``: each merge, and
    then opening the merged store for writing, which re-reads every segment (what a resumed labelling run does)."""
    merges = []
    for count in shards:
        with tempfile.TemporaryDirectory() as folder:
            paths = write_shards(Path(folder), images, count, size)
            megabytes = sum(p.stat().st_size for path in paths for p in path.with_suffix(".parts").glob("*.h5")) / 1e6
            start = time.perf_counter()
            merged, total = merge_stores(paths, Path(folder) / "merged")
            seconds = time.perf_counter() - start
            start = time.perf_counter()
            with StoreWriter(merged, {"store_hash": "stand-in"}):  # a writer re-reads every committed segment on opening
                opened = time.perf_counter() - start
            merges.append({"shards": count, "seconds": seconds, "megabytes": megabytes, "images": total, "open_seconds": opened})
    indexes = []
    for count in index_sizes:
        with tempfile.TemporaryDirectory() as folder:
            keys = {f"{number:016x}": f"seg-{number:07d}.h5" for number in range(count)}
            start = time.perf_counter()
            write_index(Path(folder) / "index.h5", keys, {"store_hash": "stand-in"})
            indexes.append({"images": count, "seconds": time.perf_counter() - start})
    return {"kind": "bench_stores", "images": images, "size": list(size), "merge": merges,
            "index": indexes}


def markdown(table: dict) -> str:
    h, w = table["size"]
    lines = [f"Merging the shard stores of {table['images']} stand-in images ({h}x{w}, one per segment):", "",
             "| shards | seconds | MB copied | images / s | opening the merged store for writing (s) |", "|---|---|---|---|---|"]
    lines += [f"| {m['shards']} | {m['seconds']:.2f} | {m['megabytes']:.0f} | {m['images'] / m['seconds']:.0f} | {m['open_seconds']:.2f} |"
              for m in table["merge"]]
    lines += ["", "Rebuilding a store's index (every commit of a labelling run, every merge):", "",
              "| images in the store | seconds |", "|---|---|"]
    lines += [f"| {i['images']} | {i['seconds']:.3f} |" for i in table["index"]]
    return "\n".join(lines) + "\n"
