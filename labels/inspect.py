"""A plain-text summary of a label store."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from labels.store import StoreReader, heatmap_keypoints, store_paths


def disk_size(index: Path) -> int:
    parts, _ = store_paths(index)
    return index.stat().st_size + sum(p.stat().st_size for p in parts.glob("*.h5"))


def summarise(index: Path, thresholds: tuple[float, ...] = ()) -> list[str]:
    """The summary's lines; with ``thresholds``, also the keypoints per image that the heatmap's maxima
    above each would give (the density of a focal target re-extracted with ``losses.focal.threshold``)."""
    reader = StoreReader(index)
    images = [labels for _, labels in reader]
    counts = np.array([len(labels.scores) for labels in images])
    lines = [
        f"store          {index}",
        f"schema         version {reader.attrs['schema_version']}, hash {reader.attrs['store_hash']}",
        f"images         {len(reader)}",
        f"size on disk   {disk_size(index) / 2**20:.1f} MiB",
    ]
    if images:
        lines.append(f"keypoints      {counts.mean():.1f} per image (min {counts.min()}, median "
                     f"{int(np.median(counts))}, max {counts.max()})")
        first = images[0]
        stored = ["heatmap", "variance", "count", "keypoints", "scores"] + [
            name for name in ("image", "descriptors") if getattr(first, name) is not None]
        lines.append(f"datasets       {', '.join(sorted(stored + (['lightglue'] if first.pair is not None else [])))}")
        adaptation = reader.config.get("adaptation")
        for threshold in thresholds:
            found = np.array([len(heatmap_keypoints(labels, threshold, adaptation)) for labels in images])
            lines.append(f"{f'threshold {threshold:g}':<14} {found.mean():.1f} keypoints per image (min {found.min()}, median "
                         f"{int(np.median(found))}, max {found.max()})")
    pairs = [labels.pair for labels in images if labels.pair is not None]
    if pairs:
        matches = np.array([len(p.matches) for p in pairs])
        consistent = np.array([p.consistent.sum() for p in pairs])
        lines.append(f"lightglue      {matches.mean():.1f} matches per image (min {matches.min()}, max {matches.max()}), "
                     f"{consistent.sum() / max(matches.sum(), 1):.1%} consistent with the homography")
    lines.append("configuration")
    lines += ["  " + line for line in str(reader.attrs["config_yaml"]).strip().splitlines()]
    reader.close()
    return lines
