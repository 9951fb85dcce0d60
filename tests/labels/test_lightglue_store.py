import numpy as np
import torch

from labels.config import LabelConfig
from labels.configuration import load_config
from labels.images import content_key, decode_grey, list_images, read_bytes, resize_image
from labels.run import image_seed, label_images
from labels.store import PAIR_FIELDS, ImageLabels, StoreReader, StoreWriter
from teachers.lightglue import PairConfig, load_lightglue, match_warped_pair
from tests.labels.test_store import CountingTeacher


def test_pair_arrays_round_trip(teacher, photo, tmp_path):
    pair = match_warped_pair(teacher, load_lightglue(), photo, PairConfig(), seed=3)
    plane = np.zeros((120, 160), np.float32)
    with StoreWriter(tmp_path / "s.h5", {"store_hash": "t", "config_yaml": "{}"}) as writer:
        writer.add("00000000000000aa", ImageLabels(plane, plane, np.ones((120, 160), np.uint8), np.zeros((0, 2)), np.zeros(0),
                                                   "photo", (120, 160), pair=pair))
    back = StoreReader(tmp_path / "s.h5")["00000000000000aa"].pair
    for name in PAIR_FIELDS:
        original, stored = getattr(pair, name), getattr(back, name)
        assert stored.dtype == original.dtype and np.array_equal(stored, original), name


def test_lightglue_store_key_and_reuse(image_folder, tmp_path):
    paths = list_images([image_folder])[:2]
    plain = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=2"])
    matched = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=2", "lightglue.enabled=true"])
    without = label_images(paths, plain, tmp_path, progress=False).store
    first = label_images(paths, matched, tmp_path, progress=False)
    assert first.store != without  # LightGlue settings are part of the store's key
    counting = CountingTeacher()
    second = label_images(paths, matched, tmp_path, progress=False, load_teacher=counting)
    assert second.reused == 2 and counting.loads == 0
    reader = StoreReader(first.store)
    assert all(labels.pair is not None and len(labels.pair.matches) > 0 for _, labels in reader)
    assert all(labels.pair is None for _, labels in StoreReader(without))


def test_a_stores_matches_are_those_of_lightglue_at_full_depth(image_folder, tmp_path, teacher):
    """Labelling runs LightGlue with every layer on every point (``depth_confidence`` and ``width_confidence`` -1), so
    that a store's matches do not depend on the device: its pair is what that matcher gives for the image and its seed,
    and the adaptive matcher (kornia prunes points on the CPU) is not what labelled it."""
    path = list_images([image_folder])[0]
    config = load_config(LabelConfig, overrides=["size=[96, 128]", "adaptation.num_homographies=2", "lightglue.enabled=true"])
    assert (config.lightglue.depth_confidence, config.lightglue.width_confidence) == (-1, -1)
    stored = next(iter(StoreReader(label_images([path], config, tmp_path, progress=False).store)))[1].pair
    data = read_bytes(path)
    image = torch.from_numpy(resize_image(decode_grey(path, data), (96, 128)).astype(np.float32) / 255)[None]
    seed = image_seed(config.seed, content_key(data), 1)
    full = match_warped_pair(teacher, load_lightglue(depth_confidence=-1, width_confidence=-1), image, config.lightglue, seed)
    assert np.array_equal(stored.matches, full.matches) and np.allclose(stored.confidence, full.confidence, atol=1e-5)
    adaptive = match_warped_pair(teacher, load_lightglue(), image, config.lightglue, seed)
    assert not np.array_equal(adaptive.matches, full.matches)  # on this photo the two differ (29 matches against 31)
