import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from labels.config import LabelConfig
from labels.configuration import load_config
from labels.images import list_images, shard
from labels.merge import merge_stores
from labels.run import label_images
from labels.store import StoreLockedError, StoreReader, StoreWriter
from teachers.superpoint import SuperPoint

SMALL = ["size=[96, 128]", "adaptation.num_homographies=3"]


def config(*extra: str) -> LabelConfig:
    return load_config(LabelConfig, overrides=[*SMALL, *extra])


class CountingTeacher:
    """Wraps the real loader and counts how often the teacher is built."""

    def __init__(self) -> None:
        self.loads = 0

    def __call__(self, *args, **kwargs) -> SuperPoint:
        self.loads += 1
        return SuperPoint.pretrained(*args, **kwargs)


def test_store_round_trip_readable_with_plain_h5py(image_folder, tmp_path):
    summary = label_images(list_images([image_folder]), config("descriptors=true"), tmp_path / "st", progress=False)
    assert summary.labelled == 4 and not summary.failed
    os.chdir("/")  # external links resolve relative to the index file, not the working directory
    with h5py.File(summary.store, "r") as f:
        assert f.attrs["num_images"] == 4 and f.attrs["schema_version"] == 1
        assert "num_homographies: 3" in f.attrs["config_yaml"]
        group = f["images"][next(iter(f["images"]))]
        assert group["heatmap"].shape == (96, 128) and group["heatmap"].dtype == np.float16
        assert group["variance"].dtype == np.float16 and group["count"].dtype == np.uint8
        assert group["count"][()].max() == 3
        assert group["keypoints"].shape[1] == 2 and group["scores"].shape == (group["keypoints"].shape[0],)
        assert group["descriptors"].shape == (256, 12, 16)
        assert group["image"].shape == (96, 128) and group["image"].dtype == np.uint8
        assert tuple(group.attrs["original_size"]) == (96, 128)
        assert Path(group.attrs["source_path"]).parent == image_folder
    reader = StoreReader(summary.store)
    labels = reader[reader.keys[0]]
    # stored keypoints are the NMS maxima of the stored heatmap above the threshold
    x, y = labels.keypoints[0].astype(int)
    assert abs(float(labels.heatmap[y, x]) - labels.scores[0]) < 1e-3


def test_second_run_reuses_the_store_without_the_teacher(image_folder, tmp_path):
    paths = list_images([image_folder])
    first = label_images(paths, config(), tmp_path, progress=False)
    counting = CountingTeacher()
    start = time.perf_counter()
    second = label_images(paths, config(), tmp_path, progress=False, load_teacher=counting)
    assert counting.loads == 0 and second.labelled == 0 and second.reused == 4
    assert second.store == first.store and time.perf_counter() - start < 5


def test_changed_parameter_makes_a_new_store(image_folder, tmp_path):
    paths = list_images([image_folder])[:1]
    a = label_images(paths, config(), tmp_path, progress=False).store
    b = label_images(paths, config("adaptation.homographies.patch_ratio=0.8"), tmp_path, progress=False).store
    c = label_images(paths, config("runtime.commit_seconds=1"), tmp_path, progress=False).store
    assert a != b and a == c


def test_duplicate_content_is_labelled_once(image_folder, tmp_path):
    (image_folder / "copy.png").write_bytes((image_folder / "camera.png").read_bytes())
    summary = label_images(list_images([image_folder]), config(), tmp_path, progress=False)
    assert summary.labelled == 4 and summary.duplicates == 1


def test_corrupt_and_empty_files_are_skipped_and_counted(image_folder, tmp_path):
    (image_folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (image_folder / "empty.png").write_bytes(b"")
    summary = label_images(list_images([image_folder]), config(), tmp_path / "st", progress=False)
    assert summary.labelled == 4
    failed = dict(summary.failed)
    assert set(Path(p).name for p in failed) == {"broken.jpg", "empty.png"}
    assert "not a decodable image" in failed[str(image_folder / "broken.jpg")]
    assert any("2 failed" in line for line in summary.lines())


def test_second_writer_fails_at_once(tmp_path):
    index = tmp_path / "store.h5"
    with StoreWriter(index, {"store_hash": "x"}):
        start = time.perf_counter()
        with pytest.raises(StoreLockedError, match=f"being written by another process \\(pid {os.getpid()}\\)"):
            with StoreWriter(index, {"store_hash": "x"}):
                pass
        assert time.perf_counter() - start < 1


def test_shards_merged_equal_one_run(image_folder, tmp_path):
    paths = list_images([image_folder])
    whole = StoreReader(label_images(paths, config(), tmp_path / "whole", progress=False).store)
    shards = [label_images(shard(paths, i, 2), config(), tmp_path / "shards", shard=(i, 2), progress=False).store
              for i in (1, 2)]
    assert [s.name.endswith(f"-shard{i}of2.h5") for i, s in zip((1, 2), shards)] == [True, True]
    merged_index, total = merge_stores(shards, tmp_path / "merged")
    merged = StoreReader(merged_index)
    assert total == 4 and merged.keys == whole.keys and merged_index.name == whole.index.name
    for key in whole.keys:
        assert np.array_equal(merged[key].heatmap, whole[key].heatmap)
        assert np.array_equal(merged[key].keypoints, whole[key].keypoints)


def test_killed_run_leaves_a_readable_store_and_resumes(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(0)
    import cv2
    for i in range(12):  # textured images, each distinct
        base = cv2.GaussianBlur(rng.integers(0, 256, (96, 128)).astype(np.uint8), (5, 5), 2)
        cv2.imwrite(str(folder / f"{i:02d}.png"), base)
    out = tmp_path / "st"
    command = [sys.executable, "-m", "distill.cli", "labels", "--images", str(folder), "--out", str(out),
               "--size", "96x128", "-n", "8", "--device", "cpu", "--quiet", "--set", "runtime.commit_seconds=0"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    index = None
    while time.time() < deadline:
        found = list(out.glob("*.h5"))
        if found and len(StoreReader(found[0])) >= 2:  # the index is replaced atomically: always readable
            index = found[0]
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert index is not None, "the labelling run never committed"
    committed = StoreReader(index)
    assert 2 <= len(committed) < 12
    for _, labels in committed:  # every committed group reads back
        assert labels.heatmap.shape == (96, 128)
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    # segments committed after the last index rebuild are found again too, so at least these are reused
    labelled, reused = (int(v) for v in re.search(r"(\d+) labelled, (\d+) already", rerun.stdout).groups())
    assert labelled + reused == 12 and reused >= len(committed)
    final = StoreReader(index)
    assert len(final) == 12 and all(labels.heatmap.shape == (96, 128) for _, labels in final)
