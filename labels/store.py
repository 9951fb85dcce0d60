"""The HDF5 label store: one index file per labelling configuration, with immutable segment files.

Layout on disk (``NAME = superpoint-<hash>`` or ``superpoint-<hash>-shard<i>of<n>``)::

    NAME.h5              index: file attributes (configuration YAML, schema version, hash) and
                         /images/<key> external links into the segments; open it with plain h5py
    NAME.parts/*.h5      segments, each holding finished image groups /<key>/{heatmap, ...}
    NAME.lock            held (flock) by the one writer

Why segments: HDF5 gives no guarantee for a file whose writer is killed mid-write. Here a segment
is written under a ``.partial`` name and renamed when complete, and the index is rebuilt into a
temporary file and renamed over the old one; renames are atomic, so a ``kill -9`` at any moment
leaves every committed image readable, and the next run relabels only what was not committed.

Every dataset carries HDF5's ``fletcher32`` checksum, checked on each read. A writer re-reads the
committed segments when it opens a store and leaves out of the index every image that does not read
back (a damaged or deleted segment), so the next labelling run relabels ("repairs") exactly those.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
import torch
import yaml

from labels.config import SCHEMA_VERSION
from labels.errors import StoreError, StoreLockedError
from teachers.config import AdaptationConfig
from teachers.keypoints import extract_keypoints
from teachers.lightglue import PairMatches

IMAGES = "images"


@dataclass
class ImageLabels:
    """Labels of one image, as stored (``H x W`` at the labelling size)."""

    heatmap: np.ndarray  # H x W float16, aggregated teacher probability
    variance: np.ndarray  # H x W float16, variance across valid homographies
    count: np.ndarray  # H x W uint8 (uint16 when N > 255), number of valid homographies
    keypoints: np.ndarray  # K x 2 float32, (x, y)
    scores: np.ndarray  # K float32
    source_path: str
    original_size: tuple[int, int]  # rows, cols of the source image
    image: np.ndarray | None = None  # H x W uint8, the grey image at the labelling size (students train on it)
    descriptors: np.ndarray | None = None  # 256 x H/8 x W/8 float16
    pair: PairMatches | None = None  # LightGlue matches with a warped copy (group "lightglue")


def heatmap_keypoints(labels: ImageLabels, threshold: float, adaptation: dict | None = None) -> np.ndarray:
    """``K x 2`` (x, y): the maxima of the stored heatmap above ``threshold``, under the NMS radius and
    border margin of the store's ``adaptation`` settings (the store's own keypoints at another threshold)."""
    adaptation = adaptation or {}
    found = extract_keypoints(torch.from_numpy(labels.heatmap.astype(np.float32))[None], threshold,
                              int(adaptation.get("nms_radius", AdaptationConfig.nms_radius)), border=int(adaptation.get("border_margin", 0)))[0]
    return found.xy.numpy()


PAIR_FIELDS = ["homography", "keypoints0", "keypoints1", "matches", "confidence", "consistent", "matchable"]


def store_paths(index: Path) -> tuple[Path, Path]:
    """``(parts folder, lock file)`` beside an index file ``NAME.h5``."""
    return index.with_suffix(".parts"), index.with_suffix(".lock")


def _write_group(group: h5py.Group, labels: ImageLabels) -> None:
    checked = dict(fletcher32=True)  # a checksum per chunk, verified by HDF5 on every read
    compress = dict(compression="gzip", compression_opts=1, **checked)
    group.create_dataset("heatmap", data=labels.heatmap.astype(np.float16), **compress)
    group.create_dataset("variance", data=labels.variance.astype(np.float16), **compress)
    group.create_dataset("count", data=labels.count, **compress)
    group.create_dataset("keypoints", data=labels.keypoints.astype(np.float32).reshape(-1, 2), **checked)
    group.create_dataset("scores", data=labels.scores.astype(np.float32).reshape(-1), **checked)
    if labels.image is not None:
        group.create_dataset("image", data=labels.image.astype(np.uint8), **compress)
    if labels.descriptors is not None:
        group.create_dataset("descriptors", data=labels.descriptors.astype(np.float16), **compress)
    if labels.pair is not None:
        pair = group.create_group("lightglue")
        for name in PAIR_FIELDS:
            pair.create_dataset(name, data=getattr(labels.pair, name), **checked)
    group.attrs["source_path"] = labels.source_path
    group.attrs["original_size"] = np.asarray(labels.original_size, dtype=np.int64)
    group.attrs["label_size"] = np.asarray(labels.heatmap.shape, dtype=np.int64)


def read_group(group: h5py.Group) -> ImageLabels:
    return ImageLabels(
        heatmap=group["heatmap"][()],
        variance=group["variance"][()],
        count=group["count"][()],
        keypoints=group["keypoints"][()],
        scores=group["scores"][()],
        source_path=str(group.attrs["source_path"]),
        original_size=tuple(int(v) for v in group.attrs["original_size"]),
        image=group["image"][()] if "image" in group else None,
        descriptors=group["descriptors"][()] if "descriptors" in group else None,
        pair=PairMatches(**{name: group["lightglue"][name][()] for name in PAIR_FIELDS}) if "lightglue" in group else None,
    )


@dataclass
class Damage:
    """An image (or a whole segment, ``key=None``) of a store that does not read back."""

    segment: str
    key: str | None
    reason: str

    def line(self) -> str:
        return f"{self.segment}: {'image ' + self.key if self.key else 'the whole segment'}: {self.reason}"


def _read_all(group: h5py.Group) -> None:
    """Read every dataset of ``group`` (HDF5 checks each chunk's checksum); raises on damage, and on a
    floating-point label that is not finite (it would stop training with a NaN loss)."""
    def read(name: str, node) -> None:  # visititems stops at the first callback that returns a value
        if isinstance(node, h5py.Dataset):
            values = node[()]
            if node.dtype.kind == "f" and not np.isfinite(values).all():
                raise RuntimeError(f"{name}: {np.size(values) - np.isfinite(values).sum()} non-finite values (NaN or inf)")

    group.visititems(read)


def scan_segments(parts: Path) -> tuple[dict[str, str], list[Damage]]:
    """``(key -> segment file name, damage)`` over all committed segments: every image that reads back
    in full, from the first segment (by name) that holds a good copy; the damaged ones listed."""
    keys: dict[str, str] = {}
    damage: list[Damage] = []
    for segment in sorted(parts.glob("*.h5")):
        try:
            with h5py.File(segment, "r") as f:
                for key in f:
                    try:
                        _read_all(f[key])
                    except (OSError, KeyError, RuntimeError) as error:  # h5py's errors for damaged chunks and headers
                        damage.append(Damage(segment.name, key, str(error).splitlines()[0]))
                        continue
                    keys.setdefault(key, segment.name)
        except OSError as error:
            damage.append(Damage(segment.name, None, f"cannot be opened ({str(error).splitlines()[0]})"))
    return keys, damage


def no_images_group(index: Path) -> str:
    return (f"{index}: the index has no /{IMAGES} group (damaged, or not written by distill labels): running the "
            f"labelling command that made the store again rebuilds the index from its segments")


def indexed_keys(index: Path) -> set[str]:
    """The images an index file lists (empty if it is missing or unreadable)."""
    try:
        with h5py.File(index, "r") as f:
            return set(f[IMAGES].keys()) if IMAGES in f else set()
    except OSError:
        return set()


# a store's index is rebuilt at most once per this many times the rebuild's own cost (5% of a run's time at most)
INDEX_COST_FACTOR = 20


def write_index(index: Path, keys: dict[str, str], attrs: dict) -> None:
    """Rebuild the index atomically: write ``NAME.h5.tmp`` and rename it over ``NAME.h5``."""
    parts, _ = store_paths(index)
    tmp = index.with_name(index.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        for name, value in attrs.items():
            f.attrs[name] = value
        f.attrs["num_images"] = len(keys)
        images = f.create_group(IMAGES)
        for key, segment in sorted(keys.items()):
            images[key] = h5py.ExternalLink(f"{parts.name}/{segment}", f"/{key}")
        f.flush()
        os.fsync(f.id.get_vfd_handle())
    os.replace(tmp, index)


class StoreWriter:
    """Appends image groups to a store; one writer at a time (an exclusive, non-blocking ``flock``).

    Use as a context manager. ``add`` buffers finished images in an open segment that is committed
    (renamed, index rebuilt) every ``commit_seconds`` and on close, including after Ctrl-C.
    """

    def __init__(self, index: Path, attrs: dict, commit_seconds: float = 10.0) -> None:
        self.index = Path(index)
        self.parts, self.lock_path = store_paths(self.index)
        self.attrs = {**attrs, "schema_version": SCHEMA_VERSION}
        self.commit_seconds = commit_seconds
        self._lock_file = None
        self._segment: h5py.File | None = None
        self._segment_path: Path | None = None
        self._segment_count = 0
        self._last_commit = time.monotonic()
        self.keys: dict[str, str] = {}
        self.damage: list[Damage] = []  # what the last open found unreadable (left out of the index)
        self.missing: set[str] = set()  # images the index listed that no segment holds readable: relabel them
        self._index_stale, self._last_index, self._index_seconds = False, 0.0, 0.0

    def __enter__(self) -> "StoreWriter":
        self.index.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open_lock_file(self.lock_path)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip() or "unknown"
            self._lock_file.close()
            raise StoreLockedError(
                f"label store {self.index} is being written by another process (pid {holder}); "
                f"wait for it to finish, or label into another --out folder"
            ) from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()
        self.parts.mkdir(exist_ok=True)
        for stale in list(self.parts.glob("*.partial")) + [self.index.with_name(self.index.name + ".tmp")]:
            stale.unlink(missing_ok=True)  # left by a killed writer; never committed
        listed: set[str] = set()
        if self.index.exists():
            check_schema(self.index)
            listed = indexed_keys(self.index)
        self.keys, self.damage = scan_segments(self.parts)
        self._segments_made = len(set(self.keys.values()))
        self.missing = listed - set(self.keys)
        for damage in self.damage:
            if damage.key is None:  # kept for inspection under another name, no longer scanned
                os.replace(self.parts / damage.segment, self.parts / f"{damage.segment}.damaged")
        write_index(self.index, self.keys, self.attrs)
        return self

    def __contains__(self, key: str) -> bool:
        return key in self.keys or (self._segment is not None and key in self._segment)

    def add(self, key: str, labels: ImageLabels) -> None:
        if key in self:
            return
        if self._segment is None:
            self._segments_made += 1  # not a listing of the folder per segment: that is O(n) for a store of n segments
            stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{self._segments_made:05d}"
            self._segment_path = self.parts / f"seg-{stamp}.h5.partial"
            self._segment = h5py.File(self._segment_path, "w")
            self._segment_count = 0
        _write_group(self._segment.create_group(key), labels)
        self._segment_count += 1
        if time.monotonic() - self._last_commit >= self.commit_seconds:
            self.commit()

    def adopt_segments(self, segments: list[tuple[Path, str]]) -> int:
        """Copy committed segments of other stores (``(segment, prefix for its name here)``) into this one, each
        atomically, then rebuild the index once (per segment, a merge of n images would be O(n^2)); returns the
        number of images that were new here. Interrupted, it leaves the index as it was; run it again."""
        new = 0
        for segment, prefix in segments:
            final = self.parts / f"{prefix}-{segment.name}"
            partial = final.with_name(final.name + ".partial")
            shutil.copyfile(segment, partial)
            os.replace(partial, final)
            with h5py.File(final, "r") as f:
                keys = [key for key in f if key not in self.keys]
            for key in keys:
                self.keys[key] = final.name
            new += len(keys)
        write_index(self.index, self.keys, self.attrs)
        return new

    def commit(self, final_index: bool = False) -> None:
        """Close the open segment and rename it into place: from then on it survives a crash (the next writer
        scans the segments). The index, which readers open, is rebuilt too, but at most once per
        ``INDEX_COST_FACTOR`` times its own cost (100k images: about 2 s a rebuild) so that a large store's
        commits stay cheap; ``final_index`` rebuilds it whatever the cost (on close)."""
        if self._segment is not None:
            new_keys = list(self._segment.keys())
            self._segment.flush()
            os.fsync(self._segment.id.get_vfd_handle())
            self._segment.close()
            final = self._segment_path.with_suffix("")  # drop ".partial"
            os.replace(self._segment_path, final)
            for key in new_keys:
                self.keys.setdefault(key, final.name)
            self._segment = None
            self._index_stale = True
        now = time.monotonic()
        if self._index_stale and (final_index or now - self._last_index >= INDEX_COST_FACTOR * self._index_seconds):
            write_index(self.index, self.keys, self.attrs)
            self._last_index, self._index_seconds, self._index_stale = time.monotonic(), time.monotonic() - now, False
        self._last_commit = time.monotonic()

    def __exit__(self, *exc) -> None:
        try:
            self.commit(final_index=True)
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()


def open_lock_file(path: Path):
    """The lock file at ``path``, opened for reading and writing (made if missing), never through a
    symbolic link and never anything but a plain file: a StoreError names what stands there instead."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as error:  # ELOOP for a symbolic link, EISDIR for a folder
        kind = "a symbolic link" if path.is_symlink() else "a folder" if path.is_dir() else error.strerror
        raise StoreError(f"{path}: the store's lock file is {kind}; distill makes it as a plain file and never "
                         f"writes through it: remove it and run again") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StoreError(f"{path}: the store's lock file is not a plain file; remove it and run again")
    return os.fdopen(fd, "r+")


def check_schema(index: Path) -> None:
    try:
        with h5py.File(index, "r") as f:
            version = int(f.attrs.get("schema_version", -1))
    except OSError as error:
        raise StoreError(f"{index}: not a readable HDF5 label store ({error})") from None
    if version != SCHEMA_VERSION:
        raise StoreError(f"{index}: label store schema version {version}, this distill reads version {SCHEMA_VERSION}")


class StoreReader:
    """Read-only access to a store's index. Opens the file lazily in each process, so one reader
    can be handed to DataLoader workers (h5py handles must not cross a fork)."""

    def __init__(self, index: str | Path) -> None:
        self.index = Path(index)
        if not self.index.is_file():
            raise StoreError(f"label store not found: {self.index} (run `make labels` or `distill labels` first)")
        check_schema(self.index)
        with h5py.File(self.index, "r") as f:
            if IMAGES not in f:
                raise StoreError(no_images_group(self.index))
            self.keys: list[str] = sorted(f[IMAGES].keys())
            self.attrs = dict(f.attrs)
        self.config = yaml.safe_load(self.attrs.get("config_yaml", "{}"))
        self._file: h5py.File | None = None
        self._pid: int | None = None

    @property
    def file(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.index, "r")
            self._pid = os.getpid()
        return self._file

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, key: str) -> ImageLabels:
        return self._read(key, read_group)

    def source_path(self, key: str) -> str:
        """The path image ``key`` was labelled from: its group's attribute alone, no array read."""
        return self._read(key, lambda group: str(group.attrs["source_path"]))

    def _read(self, key: str, read):
        """``read(group)`` of image ``key``'s group; a missing or damaged segment is a StoreError naming it."""
        try:
            return read(self.file[IMAGES][key])
        except (OSError, KeyError, RuntimeError) as error:  # a missing or damaged segment behind the link
            link = self.file[IMAGES].get(key, getlink=True)
            segment = getattr(link, "filename", "?")
            raise StoreError(f"{self.index}: image {key} (segment {segment}) cannot be read: {str(error).splitlines()[0]}. "
                             f"`distill labels verify {self.index}` lists the damage; running the labelling command "
                             f"that made the store again relabels the damaged images") from None

    def __iter__(self) -> Iterator[tuple[str, ImageLabels]]:
        for key in self.keys:
            yield key, self[key]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None, "_pid": None}

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
