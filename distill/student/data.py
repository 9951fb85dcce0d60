"""Training data over one or more label stores: image, teacher heatmap, variance and validity,
augmented identically (random homography, crop) plus photometric changes on the image alone.
Read-only, no teacher calls, safe with DataLoader workers, seeded."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch
from kornia.geometry.transform import warp_perspective
from torch.utils.data import Dataset

from labels.store import StoreError, StoreReader
from teachers.homographies import HomographyConfig, sample_homography

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


class LabelDataset(Dataset):
    """Items: ``image`` 1 x h x w float, ``heatmap``, ``variance``, ``valid`` h x w float (``h x w`` = crop)."""

    def __init__(self, stores: list[Path], split: str = "train", val_fraction: float = 0.15, crop: tuple[int, int] = (192, 256),
                 augment: bool = True, seed: int = 0) -> None:
        self.readers = [StoreReader(s) for s in stores]
        self.items: list[tuple[int, str]] = []
        for i, reader in enumerate(self.readers):
            train, val = split_keys(reader.keys, val_fraction)
            self.items += [(i, k) for k in (train if split == "train" else val)]
        if not self.items:
            raise StoreError(f"no {split} images in {', '.join(map(str, stores))} (val_fraction {val_fraction})")
        self.crop, self.augment, self.seed, self.epoch = crop, augment, seed, 0

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
        stack = torch.from_numpy(np.stack([labels.image.astype(np.float32) / 255, labels.heatmap.astype(np.float32),
                                           labels.variance.astype(np.float32), (labels.count > 0).astype(np.float32)]))
        h, w = stack.shape[-2:]
        if self.augment:
            homography = torch.from_numpy(sample_homography(rng, h, w, AUGMENT_HOMOGRAPHY)).float()
            warped = warp_perspective(stack[None], homography[None], (h, w), align_corners=True)[0]
            # the heatmap is a density of points: keep its peaks sharp with nearest sampling
            warped[1:] = warp_perspective(stack[None, 1:], homography[None], (h, w), mode="nearest", align_corners=True)[0]
            stack = warped
        ch, cw = self.crop
        top = int(rng.integers(0, h - ch + 1)) if self.augment else (h - ch) // 2
        left = int(rng.integers(0, w - cw + 1)) if self.augment else (w - cw) // 2
        stack = stack[:, top:top + ch, left:left + cw]
        image = stack[:1]
        if self.augment:
            image = image * rng.uniform(0.7, 1.3) + rng.uniform(-0.1, 0.1)
            image = image + torch.from_numpy(rng.normal(0, rng.uniform(0, 0.02), image.shape).astype(np.float32))
            image = image.clamp(0, 1)
        return {"image": image, "heatmap": stack[1], "variance": stack[2], "valid": (stack[3] > 0.5).float()}
