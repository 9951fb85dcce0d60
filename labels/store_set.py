"""A set of label stores to train from: index files named one by one or by glob patterns (a shard set,
``data/labels/superpoint-<hash>-shard*of4.h5``, or stores of different image folders), checked to hold each
image of one labelling configuration once, and described for a run's ``provenance.yaml``."""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Iterable

from labels.errors import StoreError
from labels.store import StoreReader

GLOB_CHARACTERS = set("*?[")


class StoreSetError(ValueError):
    """A pattern that matches no store, or a store named that does not exist (a usage error)."""


def expand_stores(specs: Iterable[str | Path]) -> list[Path]:
    """Every store the ``specs`` name, in order: a path as given, a glob pattern as its sorted ``.h5`` matches
    (the ``.parts`` segments of a store are never matched); each store once."""
    stores: list[Path] = []
    for spec in map(str, specs):
        if GLOB_CHARACTERS & set(spec):
            matches = [Path(p) for p in sorted(glob.glob(spec)) if p.endswith(".h5") and not Path(p).parent.name.endswith(".parts")]
            if not matches:
                raise StoreSetError(f"--store {spec}: no label store matches this pattern")
            stores += matches
        elif not Path(spec).is_file():
            raise StoreSetError(f"--store {spec}: the file does not exist")
        else:
            stores.append(Path(spec))
    return list(dict.fromkeys(stores))


def check_no_double_images(readers: list[StoreReader]) -> None:
    """Refuse two stores of one labelling configuration that share images (a merged store and its own shards,
    matched by one pattern): those images would be drawn twice as often. Stores of different configurations may
    share images (SuperPoint's labels and a student's of the same photos)."""
    seen: dict[tuple[str, str], Path] = {}
    for reader in readers:
        for key in reader.keys:
            first = seen.setdefault((str(reader.attrs["store_hash"]), key), reader.index)
            if first != reader.index:
                raise StoreError(f"{first.name} and {reader.index.name} are stores of one labelling configuration that both "
                                 f"hold image {key} (a merged store and its shards?): train on the merged store or on the "
                                 f"shards, not both")


def provenance(readers: list[StoreReader]) -> dict:
    """``{index path: {hash, teacher, images, label_size}}`` for ``provenance.yaml``."""
    return {str(r.index): {"hash": str(r.attrs["store_hash"]), "teacher": str(r.attrs.get("teacher", "?")), "images": len(r),
                           "label_size": [int(v) for v in r.attrs.get("label_size", [])]} for r in readers}
