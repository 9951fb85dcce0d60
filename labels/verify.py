"""``distill labels verify``: read every dataset of a store (HDF5 checks the checksums) and name
each image and segment that does not read back."""
from __future__ import annotations

from pathlib import Path

import h5py

from labels.store import IMAGES, check_schema, indexed_keys, no_images_group, scan_segments, store_paths


def verify_store(index: Path) -> tuple[int, list[str]]:
    """``(images that read back, problems)``; no problems means the whole store is intact."""
    check_schema(index)
    with h5py.File(index, "r") as f:
        problems = [] if IMAGES in f else [no_images_group(index)]
    parts, _ = store_paths(index)
    if not parts.is_dir():
        return 0, problems + [f"{parts}: the segment folder is missing: every image of the index is lost (relabel to repair)"]
    keys, damage = scan_segments(parts)
    problems += [d.line() for d in damage if d.key is None or d.key not in keys]  # not a copy repaired elsewhere
    problems += [f"image {key}: listed in the index but in no readable segment" for key in sorted(indexed_keys(index) - set(keys))
                 if not any(d.key == key for d in damage)]
    return len(keys), problems
