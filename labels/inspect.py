"""A plain-text summary of a label store."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from labels.store import StoreReader, store_paths


def disk_size(index: Path) -> int:
    parts, _ = store_paths(index)
    return index.stat().st_size + sum(p.stat().st_size for p in parts.glob("*.h5"))


def summarise(index: Path) -> list[str]:
    reader = StoreReader(index)
    counts = np.array([len(reader.file["images"][k]["scores"]) for k in reader.keys])
    first = reader.file["images"][reader.keys[0]] if reader.keys else None
    lines = [
        f"store          {index}",
        f"schema         version {reader.attrs['schema_version']}, hash {reader.attrs['store_hash']}",
        f"images         {len(reader)}",
        f"size on disk   {disk_size(index) / 2**20:.1f} MiB",
    ]
    if len(counts):
        lines.append(f"keypoints      {counts.mean():.1f} per image (min {counts.min()}, median "
                     f"{int(np.median(counts))}, max {counts.max()})")
        lines.append(f"datasets       {', '.join(sorted(first.keys()))}")
    if first is not None and "lightglue" in first:
        pairs = [reader.file["images"][k]["lightglue"] for k in reader.keys]
        matches = np.array([len(p["matches"]) for p in pairs])
        consistent = np.array([p["consistent"][()].sum() for p in pairs])
        lines.append(f"lightglue      {matches.mean():.1f} matches per image (min {matches.min()}, max {matches.max()}), "
                     f"{consistent.sum() / max(matches.sum(), 1):.1%} consistent with the homography")
    lines.append("configuration")
    lines += ["  " + line for line in str(reader.attrs["config_yaml"]).strip().splitlines()]
    reader.close()
    return lines
