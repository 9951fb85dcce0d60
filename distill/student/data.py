"""Training data over one or more label stores: image, teacher heatmap, variance, validity and the
teacher's keypoints as a mask (the store's own, extracted with the threshold and NMS it was labelled
with, or re-extracted from its heatmap at another threshold), augmented identically (random crop and
flips, optionally a random homography) plus photometric changes on the image alone. Read-only, no teacher calls, safe with DataLoader workers, seeded."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from distill.detection.detector import scaled_size
from distill.detection.maps import points_to_map
from distill.student.config import PhotometricConfig
from distill.student.losses import gaussian_targets
from distill.student.photometric import photometric
from labels.store import ImageLabels, StoreError, StoreReader, heatmap_keypoints
from labels.store_set import check_no_double_images
from teachers.homographies import HomographyConfig, sample_homography, warp_maps, warp_with_validity
from teachers.lightglue import PairMatches
from teachers.superpoint import cell_centres, sample_descriptors

AUGMENT_HOMOGRAPHY = HomographyConfig(patch_ratio=0.9, scaling_amplitude=0.15, perspective_amplitude=0.1,
                                      max_angle=math.pi / 12, translation=True)


def split_keys(keys: list[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """Deterministic train/validation split by image hash: a key goes to validation when the first
    bytes of ``sha1(key)`` fall under ``val_fraction`` (stable as a store grows)."""
    def bucket(key: str) -> float:
        return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 16 ** 8

    val = [k for k in keys if bucket(k) < val_fraction]
    train = [k for k in keys if bucket(k) >= val_fraction]
    return train, val


def validation_photos(store: Path, val_fraction: float = 0.15) -> list[Path]:
    """The source photos of the images a training run on ``store`` holds out for validation
    (:func:`split_keys`): the photos to choose a lever on without touching evaluation images. A photo
    that is no longer where the store found it is an error naming it."""
    reader = StoreReader(store)
    try:
        paths = [Path(reader.source_path(key)) for key in split_keys(reader.keys, val_fraction)[1]]
    finally:
        reader.close()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise StoreError(f"{store}: {len(missing)} of its {len(paths)} validation photos are not where it was labelled "
                         f"from (run from the folder the labelling ran in): {', '.join(missing[:3])}")
    if not paths:
        raise StoreError(f"{store}: no validation images at val_fraction {val_fraction}")
    return paths


def rescaled(stack: torch.Tensor, factor: float, crop: tuple[int, int]) -> torch.Tensor:
    """An item's ``5 x H x W`` stack (image, heatmap, variance, validity, keypoint mask) rescaled by ``factor``
    (pixel centres at integer coordinates: ``x' = (x + 0.5) s - 0.5``): image, heatmap and variance resampled
    (antialiased when shrinking), validity by nearest neighbour, each keypoint moved to its rescaled pixel; padded
    with invalid zeros to at least ``crop``."""
    h, w = stack.shape[-2:]
    size = scaled_size((h, w), factor)
    dense = F.interpolate(stack[None, :3], size=size, mode="bilinear", align_corners=False, antialias=factor < 1)[0]
    valid = F.interpolate(stack[None, 3:4], size=size, mode="nearest")[0]
    mask = torch.zeros((1, *size))
    ys, xs = torch.nonzero(stack[4] > 0.5, as_tuple=True)
    ys = ((ys + 0.5) * size[0] / h - 0.5).round().long().clamp(0, size[0] - 1)
    xs = ((xs + 0.5) * size[1] / w - 0.5).round().long().clamp(0, size[1] - 1)
    mask[0, ys, xs] = 1
    out = torch.cat([dense, valid, mask])
    pad = (0, max(0, crop[1] - size[1]), 0, max(0, crop[0] - size[0]))
    return F.pad(out, pad) if any(pad) else out


def warped_stack(stack: torch.Tensor, homography: torch.Tensor) -> torch.Tensor:
    """An item's ``5 x H x W`` stack warped by ``homography`` into a frame of its size: the image bilinearly, the
    labels by nearest sampling (the heatmap is a density of points: its peaks stay sharp); what the warp brings
    in from outside is 0, so invalid."""
    size = tuple(stack.shape[-2:])
    warped = warp_maps(stack[None], homography[None], size)[0]
    warped[1:] = warp_maps(stack[None, 1:], homography[None], size, "nearest")[0]
    return warped


def warped_descriptor_crop(stack: torch.Tensor, teacher: torch.Tensor, homography: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A crop's ``5 x h x w`` stack warped by ``homography`` (crop pixels to warped pixels; validity 0 where the
    warp leaves the crop) and the teacher's ``D x h/8 x w/8`` descriptors of what each warped cell shows: the
    descriptor at ``H^-1`` of its centre, sampled bilinearly and L2-normalised. The student then learns the
    teacher's descriptor of a point under a change of view, not only in the view the teacher saw."""
    h, w = stack.shape[-2:]
    warped = warped_stack(stack, homography)
    source = torch.linalg.inv(homography) @ cell_centres(h, w)
    source = (source[:2] / source[2]).t()
    described = sample_descriptors(teacher, source, (h, w)).t().reshape(-1, h // 8, w // 8)
    return warped, described


def keypoint_mask(labels: ImageLabels, threshold: float | None = None, adaptation: dict | None = None) -> np.ndarray:
    """``H x W`` float32: 1 at the pixel of each of the store's keypoints, 0 elsewhere. With a
    ``threshold``, the keypoints are instead the maxima of the store's heatmap above it, under the NMS
    radius and border margin of the store's ``adaptation`` settings (a student teacher's averaged
    probabilities are flatter than SuperPoint's, so one threshold gives it more than twice the points)."""
    points = labels.keypoints if threshold is None else heatmap_keypoints(labels, threshold, adaptation)
    return points_to_map(points, np.ones(len(points), np.float32), labels.heatmap.shape)


def check_side_store(side: StoreReader, readers: list[StoreReader], keys: set[str], what: str, how: str) -> None:
    """A side store (``what`` it gives: descriptors, LightGlue pairs) serves the training stores ``readers`` if
    it holds each of their images ``keys`` at their label size; ``how`` names the command that labels one."""
    missing = sorted(keys - set(side.keys))
    if missing:
        raise StoreError(f"{side.index} has no {what} of {len(missing)} of the training images (first: {missing[0]}); "
                         f"it must be labelled from the same photos: {how} on them")
    size = tuple(int(v) for v in side.attrs.get("label_size", ()))
    for reader in readers:
        other = tuple(int(v) for v in reader.attrs.get("label_size", ()))
        if size and other and size != other:
            raise StoreError(f"{side.index} holds labels of {size[0]}x{size[1]} pixels and {reader.index} of "
                             f"{other[0]}x{other[1]}: a store of {what} must be labelled at the training stores' --size")


class LabelDataset(Dataset):
    """Items: ``image`` 1 x h x w float, ``heatmap``, ``variance``, ``valid``, ``mask`` h x w float (``h x w`` = crop).

    ``augment``: random crop, horizontal and vertical flips (exact: labels stay on their pixels) and
    photometric changes. ``warp`` adds a random homography per item; resampling blurs the image and
    moves the label peaks by up to a pixel (nearest sampling), which costs localisation (docs/experiments.md)."""

    def __init__(self, stores: list[Path], split: str = "train", val_fraction: float = 0.15, crop: tuple[int, int] = (192, 256),
                 augment: bool = True, seed: int = 0, pair_sigma: float | None = None, warp: bool = False,
                 descriptors: bool = False, target_threshold: float | None = None,
                 photometric: PhotometricConfig = PhotometricConfig(), scale_range: tuple[float, float] = (1.0, 1.0),
                 descriptor_store: Path | None = None, pair_store: Path | None = None) -> None:
        self.readers = [StoreReader(s) for s in stores]
        check_no_double_images(self.readers)
        for reader in self.readers:
            size = tuple(int(v) for v in reader.attrs.get("label_size", ()))
            if size and (size[0] < crop[0] or size[1] < crop[1]):
                raise StoreError(f"{reader.index} holds labels of {size[0]}x{size[1]} pixels, smaller than the training crop "
                                 f"{crop[0]}x{crop[1]}: train with --set crop=[H,W] (multiples of 8, at most the label size) "
                                 f"or label at a larger --size")
        self.items: list[tuple[int, str]] = []
        for i, reader in enumerate(self.readers):
            train, val = split_keys(reader.keys, val_fraction)
            self.items += [(i, k) for k in (train if split == "train" else val)]
        if not self.items:
            raise StoreError(f"no {split} images in {', '.join(map(str, stores))} (val_fraction {val_fraction})")
        self.crop, self.augment, self.warp, self.seed, self.epoch = crop, augment, warp, seed, 0
        self.scale_range = tuple(scale_range)
        self.photometric = photometric
        self.target_threshold = target_threshold  # None: the store's keypoints are the focal target
        self.pair_sigma = pair_sigma  # not None: pair mode (LightGlue matches of stores labelled with --lightglue)
        # where each item's LightGlue pair comes from: its own store, or one pair store for all
        self.paired = StoreReader(pair_store) if pair_sigma is not None and pair_store is not None else None
        if self.paired is not None:
            if not self.paired.config.get("lightglue", {}).get("enabled"):
                raise StoreError(f"{self.paired.index} holds no LightGlue pairs; a pair store is labelled with `distill labels --lightglue`")
        # the teacher's descriptors of each crop (descriptor head): crops on the 8x8 cell grid, no flip (a flipped
        # image's descriptors are not its descriptors flipped); with warp, the teacher's descriptors of the warped points
        self.descriptors = descriptors
        if descriptors and (crop[0] % 8 or crop[1] % 8):
            raise StoreError(f"the descriptor head needs a crop of multiples of 8, got {crop[0]}x{crop[1]}")
        # where each item's teacher descriptors come from: its own store, or one descriptor store for all
        self.described = StoreReader(descriptor_store) if descriptors and descriptor_store is not None else None
        for reader in ([self.described] if self.described else self.readers) if descriptors else []:
            if not reader.config.get("descriptors"):
                raise StoreError(f"{reader.index} holds no teacher descriptors; the descriptor head (student.descriptor_dim) "
                                 f"learns from stores labelled with `distill labels --descriptors`")
        keys = {key for _, key in self.items}
        if self.described is not None:
            check_side_store(self.described, self.readers, keys, "descriptors", "`distill labels --descriptors -n 1`")
        if self.paired is not None:
            check_side_store(self.paired, self.readers, keys, "LightGlue pairs", "`distill labels --lightglue -n 1`")

    def __len__(self) -> int:
        return len(self.items)

    def sampling_weights(self, store_weights: list[float]) -> torch.Tensor:
        """Per-item weights so that store ``s`` is drawn with probability ``store_weights[s] / sum``,
        whatever its size (for mixing, say, synthetic shapes with teacher labels)."""
        if len(store_weights) != len(self.readers):
            raise ValueError(f"store_weights has {len(store_weights)} values for {len(self.readers)} stores")
        sizes = np.bincount([store for store, _ in self.items], minlength=len(self.readers))
        return torch.tensor([store_weights[store] / sizes[store] for store, _ in self.items], dtype=torch.double)

    def set_epoch(self, epoch: int) -> None:
        """Augmentations depend on (seed, epoch, index): the same seed gives the same batches."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        store, key = self.items[index]
        labels = self.readers[store][key]
        if labels.image is None:
            raise StoreError(f"{self.readers[store].index}: image {key} has no stored image (relabel with this version)")
        rng = np.random.default_rng([self.seed, self.epoch if self.augment else 0, index])
        if self.pair_sigma is not None:
            pair = (self.paired[key] if self.paired is not None else labels).pair
            if pair is None:
                index = self.paired.index if self.paired is not None else self.readers[store].index
                raise StoreError(f"{index}: image {key} has no LightGlue pair; label with --lightglue for pair mode")
            return self._pair_item(labels, pair, rng, self._target_mask(store, labels))
        stack = torch.from_numpy(np.stack([labels.image.astype(np.float32) / 255, labels.heatmap.astype(np.float32),
                                           labels.variance.astype(np.float32), (labels.count > 0).astype(np.float32),
                                           self._target_mask(store, labels)]))
        h, w = stack.shape[-2:]
        if self.descriptors and self.described is not None:
            return self._descriptor_item(self.described[key], stack, rng, self.described.index, key)
        if self.descriptors:
            return self._descriptor_item(labels, stack, rng, self.readers[store].index, key)
        if self.augment and self.warp:
            stack = warped_stack(stack, torch.from_numpy(sample_homography(rng, h, w, AUGMENT_HOMOGRAPHY)).float())
        if self.augment and self.scale_range != (1.0, 1.0):
            stack = rescaled(stack, float(np.exp(rng.uniform(*np.log(self.scale_range)))), self.crop)
            h, w = stack.shape[-2:]
        if self.augment:
            flips = [dim for dim in (-1, -2) if rng.random() < 0.5]
            stack = stack.flip(flips) if flips else stack
        ch, cw = self.crop
        top = int(rng.integers(0, h - ch + 1)) if self.augment else (h - ch) // 2
        left = int(rng.integers(0, w - cw + 1)) if self.augment else (w - cw) // 2
        stack = stack[:, top:top + ch, left:left + cw]
        image = self._photometric(stack[:1], rng)
        return {"image": image, "heatmap": stack[1], "variance": stack[2], "valid": (stack[3] > 0.5).float(), "mask": stack[4]}

    def _descriptor_item(self, labels: ImageLabels, stack: torch.Tensor, rng: np.random.Generator, index: Path,
                         key: str) -> dict[str, torch.Tensor]:
        """A crop on the cell grid with the teacher's ``256 x h/8 x w/8`` descriptors of it."""
        if labels.descriptors is None:
            raise StoreError(f"{index}: image {key} has no descriptors; the descriptor head (student.descriptor_dim) "
                             f"learns from stores labelled with `distill labels --descriptors`")
        h, w = stack.shape[-2:]
        ch, cw = self.crop
        top = 8 * int(rng.integers(0, (h - ch) // 8 + 1)) if self.augment else 8 * ((h - ch) // 16)
        left = 8 * int(rng.integers(0, (w - cw) // 8 + 1)) if self.augment else 8 * ((w - cw) // 16)
        stack = stack[:, top:top + ch, left:left + cw]
        teacher = torch.from_numpy(labels.descriptors.astype(np.float32))[:, top // 8:(top + ch) // 8, left // 8:(left + cw) // 8]
        if self.augment and self.warp:
            stack, teacher = warped_descriptor_crop(stack, teacher, torch.from_numpy(sample_homography(rng, ch, cw, AUGMENT_HOMOGRAPHY)).float())
        return {"image": self._photometric(stack[:1], rng), "heatmap": stack[1], "variance": stack[2],
                "valid": (stack[3] > 0.5).float(), "mask": stack[4], "descriptors": teacher}

    def _photometric(self, image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        return photometric(image, rng, self.photometric) if self.augment else image

    def _target_mask(self, store: int, labels: ImageLabels) -> np.ndarray:
        """The focal target's keypoint mask of an image of store ``store`` (:func:`keypoint_mask`)."""
        return keypoint_mask(labels, self.target_threshold, self.readers[store].config.get("adaptation"))

    def _pair_item(self, labels: ImageLabels, pair: PairMatches, rng: np.random.Generator,
                   target_mask: np.ndarray) -> dict[str, torch.Tensor]:
        """Image ``a``, its warp ``b`` by the ``pair``'s homography ``H``, both cropped; ``matched_a`` / ``_b``
        mark the pair's consistently matched keypoints of each, ``target_a`` / ``_b`` are Gaussian blobs in
        [0.1, 0.9] at them; ``homography`` maps crop ``a`` to crop ``b`` (``T_b · H · T_a^-1``)."""
        h, w = labels.image.shape
        ch, cw = self.crop
        hom = torch.from_numpy(pair.homography).float()
        image = torch.from_numpy(labels.image.astype(np.float32) / 255)[None, None]
        warped, seen_b = warp_with_validity(image, hom[None])
        warped, seen_b = warped[0], seen_b[0, 0].float()
        good = pair.matches[pair.consistent]
        masks = torch.zeros(2, h, w)
        for plane, points in enumerate([pair.keypoints0[good[:, 0]], pair.keypoints1[good[:, 1]]]):
            masks[plane, np.round(points[:, 1]).astype(int), np.round(points[:, 0]).astype(int)] = 1.0
        targets = gaussian_targets(masks, self.pair_sigma)
        offsets = []
        for _ in range(2):
            top = int(rng.integers(0, h - ch + 1)) if self.augment else (h - ch) // 2
            left = int(rng.integers(0, w - cw + 1)) if self.augment else (w - cw) // 2
            offsets.append((top, left))
        (ta, la), (tb, lb) = offsets
        shift_a = torch.tensor([[1.0, 0, la], [0, 1, ta], [0, 0, 1]])
        shift_b = torch.tensor([[1.0, 0, -lb], [0, 1, -tb], [0, 0, 1]])
        valid_a = torch.from_numpy((labels.count > 0).astype(np.float32))
        mask_a = torch.from_numpy(target_mask)
        return {
            "image": self._photometric(image[0, :, ta:ta + ch, la:la + cw], rng),
            "heatmap": torch.from_numpy(labels.heatmap.astype(np.float32))[ta:ta + ch, la:la + cw],
            "variance": torch.from_numpy(labels.variance.astype(np.float32))[ta:ta + ch, la:la + cw],
            "valid": valid_a[ta:ta + ch, la:la + cw],
            "mask": mask_a[ta:ta + ch, la:la + cw],
            "image_b": self._photometric(warped[:, tb:tb + ch, lb:lb + cw], rng),
            "valid_b": seen_b[tb:tb + ch, lb:lb + cw],
            "target_a": targets[0, ta:ta + ch, la:la + cw],
            "target_b": targets[1, tb:tb + ch, lb:lb + cw],
            "matched_a": masks[0, ta:ta + ch, la:la + cw],
            "matched_b": masks[1, tb:tb + ch, lb:lb + cw],
            "homography": shift_b @ hom @ shift_a,
        }
