import numpy as np
import pytest
from torch.utils.data import DataLoader, Dataset

from labels.preview import labelled_image
from labels.store import StoreReader
from labels.synthetic_run import write_synthetic_store
from labels.synthetic_shapes import PRIMITIVES, ShapesConfig, generate

SHARP = ShapesConfig(size=(100, 180), blur=False, noise=False)  # non-square on purpose


@pytest.mark.parametrize("primitive", [p for p in PRIMITIVES if p != "ellipses"])
def test_every_corner_lies_on_a_drawn_vertex(primitive):
    labelled = 0
    for index in range(12):
        image, corners, _ = generate(index, 5, SHARP, primitive)
        assert image.shape == (100, 180)  # rows x cols as asked
        for x, y in corners:
            assert 0 <= x <= 179 and 0 <= y <= 99
            patch = image[max(0, int(y) - 1):int(y) + 2, max(0, int(x) - 1):int(x) + 2].astype(int)
            # a drawn vertex: shape and background (or two shapes) meet within 1 px
            assert patch.max() - patch.min() >= 20, (primitive, index, (x, y), patch)
        labelled += len(corners)
    assert labelled > 0


def test_ellipses_give_no_corners():
    for index in range(10):
        image, corners, _ = generate(index, 0, SHARP, "ellipses")
        assert len(corners) == 0 and image.std() > 5  # something was drawn


class Shapes(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        image, corners, _ = generate(index, 3)
        return image, len(corners)


def test_seeds_reproduce_in_any_process():
    a, ca, _ = generate(4, seed=3)
    b, cb, _ = generate(4, seed=3)
    c, _, _ = generate(4, seed=4)
    assert np.array_equal(a, b) and np.array_equal(ca, cb) and not np.array_equal(a, c)
    serial = [batch for batch in DataLoader(Shapes(), batch_size=2)]
    parallel = [batch for batch in DataLoader(Shapes(), batch_size=2, num_workers=2)]
    for (x, n), (y, m) in zip(serial, parallel):
        assert np.array_equal(x.numpy(), y.numpy()) and np.array_equal(n.numpy(), m.numpy())


def test_synthetic_store_has_exact_corner_heatmaps_and_is_reused(tmp_path):
    config = ShapesConfig(size=(64, 96))
    first = write_synthetic_store(16, config, seed=0, out_dir=tmp_path, progress=False)
    again = write_synthetic_store(20, config, seed=0, out_dir=tmp_path, progress=False)
    assert first.labelled == 16 and again.reused == 16 and again.labelled == 4 and first.store == again.store
    reader = StoreReader(first.store)
    assert len(reader) == 20
    for _, labels in reader:
        assert labels.heatmap.shape == (64, 96) and labels.image.shape == (64, 96)
        rows, cols = np.round(labels.keypoints[:, 1]).astype(int), np.round(labels.keypoints[:, 0]).astype(int)
        assert np.all(labels.heatmap[rows, cols] == 1) and labels.heatmap.sum() == len(np.unique(np.stack([rows, cols]), axis=1).T)


def test_previews_of_a_synthetic_store_draw_its_stored_images(tmp_path):
    store = write_synthetic_store(2, ShapesConfig(size=(48, 64)), seed=0, out_dir=tmp_path, progress=False).store
    for _, labels in StoreReader(store):
        assert labelled_image(labels) is labels.image and labels.image.std() > 0
