"""Join the stores of a sharded labelling run (``--shard i/n``) into one store."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import h5py

from labels.store import StoreError, StoreWriter, check_schema, store_paths

_SHARD_SUFFIX = re.compile(r"-shard\d+of\d+$")


def merge_stores(shards: Sequence[Path], out_dir: Path) -> tuple[Path, int]:
    """Copy every segment of ``shards`` (all of one labelling configuration) into one store in
    ``out_dir``, named without the shard suffix. Returns ``(index, images)``. Safe to repeat:
    images already in the merged store are not duplicated in its index."""
    if not shards:
        raise StoreError("merge needs at least one shard store")
    attrs_list = []
    for shard in shards:
        check_schema(shard)
        with h5py.File(shard, "r") as f:
            attrs_list.append({k: v for k, v in f.attrs.items() if k != "num_images"})
    hashes = {a["store_hash"] for a in attrs_list}
    if len(hashes) != 1:
        listing = ", ".join(f"{s.name} ({a['store_hash']})" for s, a in zip(shards, attrs_list))
        raise StoreError(f"cannot merge stores of different labelling configurations: {listing}")
    name = _SHARD_SUFFIX.sub("", Path(shards[0]).stem)
    index = Path(out_dir) / f"{name}.h5"
    if any(Path(s).resolve() == index.resolve() for s in shards):
        raise StoreError(f"the merged store {index} is one of the inputs; choose another --out")
    with StoreWriter(index, attrs_list[0]) as writer:
        writer.adopt_segments([(segment, Path(shard).stem) for shard in shards
                               for segment in sorted(store_paths(Path(shard))[0].glob("*.h5"))])
        total = len(writer.keys)
    return index, total
