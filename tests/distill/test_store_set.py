"""Training from a set of label stores: a shard set by glob pattern, each store's provenance recorded, and a
merged store never counted twice beside its own shards."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from distill.cli import app
from labels.config import LabelConfig
from labels.configuration import load_config
from labels.images import list_images, shard
from labels.merge import merge_stores
from labels.run import label_images
from tests.distill.test_faults import TINY_TRAIN


@pytest.fixture(scope="module")
def shard_set(tmp_path_factory) -> Path:
    """Two shard stores of six small images and, in the same folder, the store merged from them."""
    images, folder = tmp_path_factory.mktemp("images"), tmp_path_factory.mktemp("labels")
    rng = np.random.default_rng(1)
    for i in range(6):
        cv2.imwrite(str(images / f"{i}.png"), cv2.GaussianBlur((rng.random((96, 128)) * 255).astype(np.uint8), (0, 0), 2))
    config = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=2"])
    paths = list_images([images])
    shards = [label_images(shard(paths, i, 2), config, folder, shard=(i, 2), progress=False).store for i in (1, 2)]
    merge_stores(shards, folder)
    return folder


def test_training_reads_a_shard_set_by_pattern_and_records_each_store(shard_set, tmp_path):
    pattern = str(shard_set / "superpoint-*-shard*of2.h5")
    result = CliRunner().invoke(app, ["train", "--store", pattern, "--name", "shards", "--runs-dir", str(tmp_path), *TINY_TRAIN])
    assert result.exit_code == 0, result.output
    run = tmp_path / "shards"
    stores = yaml.safe_load((run / "provenance.yaml").read_text())["label_stores"]
    assert sorted(Path(p).name.split("-shard")[1] for p in stores) == ["1of2.h5", "2of2.h5"]
    assert sum(s["images"] for s in stores.values()) == 6 and {s["teacher"] for s in stores.values()} == {"superpoint"}
    assert len({s["hash"] for s in stores.values()}) == 1
    assert yaml.safe_load((run / "config.yaml").read_text())["stores"] == sorted(stores)  # the pattern, expanded


def test_a_merged_store_beside_its_shards_is_refused(shard_set, tmp_path):
    result = CliRunner().invoke(app, ["train", "--store", str(shard_set / "*.h5"), "--name", "both", "--runs-dir", str(tmp_path),
                                      *TINY_TRAIN])
    assert result.exit_code == 1 and "a merged store and its shards?" in result.output
    assert not (tmp_path / "both").exists()


def test_a_pattern_that_matches_nothing_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["train", "--store", str(tmp_path / "none-*.h5"), *TINY_TRAIN])
    assert result.exit_code == 2 and "no label store matches this pattern" in result.output
    missing = CliRunner().invoke(app, ["train", "--store", str(tmp_path / "none.h5"), *TINY_TRAIN])
    assert missing.exit_code == 2 and "the file does not exist" in missing.output
