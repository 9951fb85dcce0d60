import hashlib

import numpy as np
import pytest
import torch

from distill.student.data import LabelDataset, split_keys, validation_photos, warped_descriptor_crop
from labels.inspect import summarise
from labels.store import ImageLabels, StoreError, StoreWriter

SIZE = (48, 64)
CROP = (32, 48)


def planes(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth random pattern as image (uint8) and heatmap (the same pattern in [0, 1]); the
    variance is the pattern turned by 180 degrees, so that a plane transformed alone shows."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((SIZE[0] // 8, SIZE[1] // 8)).astype(np.float32)
    pattern = torch.nn.functional.interpolate(torch.from_numpy(coarse)[None, None], size=SIZE, mode="bicubic",
                                              align_corners=False)[0, 0].clamp(0, 1).numpy()
    return (pattern * 255).round().astype(np.uint8), pattern, pattern[::-1, ::-1].copy()


@pytest.fixture()
def pattern_store(tmp_path):
    """Images whose heatmap is the image itself: any misalignment of the planes shows."""
    index = tmp_path / "patterns.h5"
    with StoreWriter(index, {"store_hash": "p", "config_yaml": "{}"}) as writer:
        for i in range(8):
            image, heatmap, variance = planes(i)
            writer.add(hashlib.sha1(str(i).encode()).hexdigest()[:16],
                       ImageLabels(heatmap, variance, np.ones(SIZE, np.uint8), np.zeros((0, 2), np.float32),
                                   np.zeros(0, np.float32), f"pattern{i}", SIZE, image=image))
    return index


def test_split_by_hash_is_disjoint_and_stable_as_the_store_grows():
    keys = [f"{i:016x}" for i in range(400)]
    train, val = split_keys(keys, 0.15)
    assert not set(train) & set(val) and len(train) + len(val) == 400
    assert 30 < len(val) < 90
    more_train, more_val = split_keys(keys + [f"{i:016x}" for i in range(400, 500)], 0.15)
    assert set(val) <= set(more_val) and set(train) <= set(more_train)


def candidates(plane: np.ndarray) -> list[np.ndarray]:
    """Every flip and crop of a stored plane that the dataset can produce without a warp."""
    out = []
    for flipped in (plane, plane[:, ::-1], plane[::-1], plane[::-1, ::-1]):
        for top in range(SIZE[0] - CROP[0] + 1):
            for left in range(SIZE[1] - CROP[1] + 1):
                out.append(flipped[top:top + CROP[0], left:left + CROP[1]])
    return out


def test_flips_and_crops_keep_labels_on_their_pixels(pattern_store):
    """Without a warp, an item's heatmap and variance are one and the same exact flip and crop of
    the stored planes (no resampling), and the image follows them up to photometric changes."""
    data = LabelDataset([pattern_store], "train", val_fraction=0.0, crop=CROP, augment=True, seed=1)
    flipped_somewhere = False
    for index in range(len(data)):
        item = data[index]
        stored = data.readers[0][data.items[index][1]]
        heat = item["heatmap"].numpy()
        heatmaps = candidates(stored.heatmap.astype(np.float32))
        matches = [i for i, c in enumerate(heatmaps) if np.array_equal(c, heat)]
        assert len(matches) == 1
        variance = candidates(stored.variance.astype(np.float32))[matches[0]]
        assert np.array_equal(item["variance"].numpy(), variance)
        flipped_somewhere |= matches[0] >= len(heatmaps) // 4
        image = item["image"][0].numpy()
        assert np.corrcoef(image.ravel(), heat.ravel())[0, 1] > 0.95
        assert item["valid"].min() == 1
    assert flipped_somewhere


def test_warp_moves_image_and_labels_together_and_is_seeded(pattern_store):
    data = LabelDataset([pattern_store], "train", val_fraction=0.0, crop=CROP, augment=True, seed=3, warp=True)
    for index in range(len(data)):
        item = data[index]
        heat = item["heatmap"].numpy()
        stored = data.readers[0][data.items[index][1]]
        assert not any(np.array_equal(c, heat) for c in candidates(stored.heatmap.astype(np.float32)))  # resampled
        valid = item["valid"].numpy() > 0
        assert np.corrcoef(item["image"][0].numpy()[valid], heat[valid])[0, 1] > 0.9
    again = LabelDataset([pattern_store], "train", val_fraction=0.0, crop=CROP, augment=True, seed=3, warp=True)
    assert torch.equal(again[2]["heatmap"], data[2]["heatmap"]) and torch.equal(again[2]["image"], data[2]["image"])
    again.set_epoch(1)
    assert not torch.equal(again[2]["heatmap"], data[2]["heatmap"])


def test_validation_items_are_centre_crops_without_augmentation(pattern_store):
    data = LabelDataset([pattern_store], "train", val_fraction=0.0, crop=CROP, augment=False)
    item = data[0]
    stored = data.readers[0][data.items[0][1]]
    top, left = (SIZE[0] - CROP[0]) // 2, (SIZE[1] - CROP[1]) // 2
    assert np.array_equal(item["heatmap"].numpy(), stored.heatmap.astype(np.float32)[top:top + CROP[0], left:left + CROP[1]])
    assert np.array_equal(item["image"][0].numpy(), stored.image[top:top + CROP[0], left:left + CROP[1]] / np.float32(255))


def test_the_keypoint_mask_is_the_stores_own_keypoints(tmp_path):
    """Training targets come from the keypoints the store was labelled with (its own threshold and
    NMS), not from re-thresholding the heatmap: a weak stored keypoint counts, a strong unlisted peak not."""
    index = tmp_path / "points.h5"
    heatmap = np.zeros(SIZE, np.float32)
    heatmap[10, 20] = 0.002  # listed below any usual threshold
    heatmap[30, 40] = 0.9  # a peak the store does not list
    keypoints = np.array([[20.0, 10.0], [5.0, 40.0]], np.float32)  # (x, y)
    with StoreWriter(index, {"store_hash": "k", "config_yaml": "{}"}) as writer:
        writer.add("00000000000000aa", ImageLabels(heatmap, np.zeros(SIZE, np.float32), np.ones(SIZE, np.uint8), keypoints,
                                                   np.ones(2, np.float32), "points", SIZE, image=np.zeros(SIZE, np.uint8)))
    item = LabelDataset([index], "train", val_fraction=0.0, crop=SIZE, augment=False)[0]
    ys, xs = torch.nonzero(item["mask"], as_tuple=True)
    assert sorted(zip(xs.tolist(), ys.tolist())) == [(5, 40), (20, 10)]


def test_a_target_threshold_re_extracts_the_keypoints_from_the_heatmap(tmp_path):
    """``losses.focal.threshold`` replaces the stored keypoints by the heatmap's maxima above it, under the
    store's NMS radius and border margin: of two peaks closer than the radius only the stronger stays,
    a peak in the border margin and one under the threshold are dropped."""
    index = tmp_path / "points.h5"
    heatmap = np.zeros(SIZE, np.float32)
    heatmap[20, 20], heatmap[22, 23] = 0.5, 0.4  # within NMS radius 4 of each other
    heatmap[30, 40] = 0.2
    heatmap[1, 30] = 0.9  # inside the 3 px border margin
    heatmap[10, 50] = 0.05  # under the threshold
    config = "adaptation: {nms_radius: 4, border_margin: 3}"
    with StoreWriter(index, {"store_hash": "t", "config_yaml": config}) as writer:
        writer.add("00000000000000aa", ImageLabels(heatmap, np.zeros(SIZE, np.float32), np.ones(SIZE, np.uint8),
                                                   np.array([[5.0, 40.0]], np.float32), np.ones(1, np.float32), "points", SIZE,
                                                   image=np.zeros(SIZE, np.uint8)))
    item = LabelDataset([index], "train", val_fraction=0.0, crop=SIZE, augment=False, target_threshold=0.1)[0]
    ys, xs = torch.nonzero(item["mask"], as_tuple=True)
    assert sorted(zip(xs.tolist(), ys.tolist())) == [(20, 20), (40, 30)]
    # `distill labels inspect --threshold` counts the same points: a density to pick the threshold by
    counts = [line for line in summarise(index, (0.1, 0.01, 0.0125)) if line.startswith("threshold")]
    assert counts == ["threshold 0.1  2.0 keypoints per image (min 2, median 2, max 2)",
                      "threshold 0.01 3.0 keypoints per image (min 3, median 3, max 3)",
                      "threshold 0.0125 3.0 keypoints per image (min 3, median 3, max 3)"]


def test_rescaling_an_item_moves_each_keypoint_to_its_pixel_and_pads_what_it_lacks():
    """Scale augmentation: a keypoint at (x, y) lands at ((x + 0.5) s - 0.5, ...) rounded, a corner of the image
    stays on the corner, and a shrunk item is padded to the crop with invalid pixels."""
    from distill.student.data import rescaled

    stack = torch.zeros(5, 64, 96)
    stack[0] = torch.linspace(0, 1, 96)  # a horizontal ramp
    stack[3] = 1
    stack[4, 10, 20] = stack[4, 40, 90] = 1
    up = rescaled(stack, 1.5, (64, 96))
    assert up.shape == (5, 96, 144)
    assert {tuple(p) for p in torch.nonzero(up[4]).tolist()} == {(15, 30), (60, 135)}
    assert up[3].min() == 1 and torch.allclose(up[0, :, 0], up[0, 0, 0].expand(96))
    down = rescaled(stack, 0.5, (48, 64))
    assert down.shape == (5, 48, 64)  # 32 x 48, padded to the crop
    assert down[3, :32, :48].min() == 1 and down[3, 32:].max() == 0 and down[3, :, 48:].max() == 0
    assert {tuple(p) for p in torch.nonzero(down[4]).tolist()} == {(5, 10), (20, 45)}


def test_validation_photos_are_the_split_training_holds_out_and_must_still_exist(tmp_path):
    """The photos behind a store's validation keys, in key order; a moved photo is named."""
    index = tmp_path / "photos.h5"
    paths = {}
    with StoreWriter(index, {"store_hash": "v", "config_yaml": "{}"}) as writer:
        for i in range(40):
            path = tmp_path / f"photo{i}.png"
            path.write_bytes(b"not read here")
            key = hashlib.sha1(str(i).encode()).hexdigest()[:16]
            paths[key] = path
            image, heatmap, variance = planes(i)
            writer.add(key, ImageLabels(heatmap, variance, np.ones(SIZE, np.uint8), np.zeros((0, 2), np.float32),
                                        np.zeros(0, np.float32), str(path), SIZE, image=image))
    held_out = split_keys(sorted(paths), 0.15)[1]
    assert 0 < len(held_out) < 20
    assert validation_photos(index) == [paths[key] for key in held_out]
    paths[held_out[0]].unlink()
    with pytest.raises(StoreError, match=f"1 of its {len(held_out)} validation photos.*{paths[held_out[0]].name}"):
        validation_photos(index)


def test_a_warped_descriptor_crop_carries_the_teachers_descriptor_of_each_cells_source_point():
    """Descriptors that encode their own position, ``(x, y, 1000)`` normalised: after a warp, each cell's target
    decodes to ``H^-1`` of the cell's centre; cells the warp fills from outside the crop are invalid."""
    h, w = 64, 96
    ys, xs = torch.meshgrid(torch.arange(h // 8) * 8 + 3.5, torch.arange(w // 8) * 8 + 3.5, indexing="ij")
    teacher = torch.nn.functional.normalize(torch.stack([xs, ys, torch.full_like(xs, 1000.0)]), dim=0)
    stack = torch.ones(5, h, w)
    homography = torch.tensor([[0.9, 0.1, 6.0], [-0.05, 0.95, 4.0], [1e-4, 0, 1.0]])
    warped, target = warped_descriptor_crop(stack, teacher, homography)
    decoded = target[:2] / target[2] * 1000
    source = torch.linalg.inv(homography) @ torch.stack([xs.ravel(), ys.ravel(), torch.ones(xs.numel())])
    source = (source[:2] / source[2]).reshape(2, h // 8, w // 8)
    inside = (source[0] > 3.5) & (source[0] < w - 4.5) & (source[1] > 3.5) & (source[1] < h - 4.5)  # between cell centres
    assert inside.sum() > 40
    assert torch.allclose(decoded[:, inside], source[:, inside], atol=0.05)
    assert warped[3].min() == 0 and warped[3, h // 2, w // 2] == 1  # the warp's edge: validity 0 where nothing came from the crop
