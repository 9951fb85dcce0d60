"""Image sequences with ground-truth homographies: the HPatches "sequences" layout on disk.

A sequence folder ``i_*`` (illumination) or ``v_*`` (viewpoint) holds images ``1 … 6`` (ppm, png
or jpg) and ``H_1_2 … H_1_6``, each a 3x3 homography from image 1 to image k in pixels.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labels.images import IMAGE_SUFFIXES, ImageError, read_grey
HPATCHES_HELP = (
    "HPatches comes from https://github.com/hpatches/hpatches-dataset (hpatches-sequences-release, 116 "
    "folders i_* and v_*). Point to it with --root DIR or $HPATCHES_ROOT."
)


class HPatchesError(RuntimeError):
    """The root or a sequence does not follow the HPatches layout; the message names the file."""


@dataclass
class Sequence:
    name: str
    images: list[np.ndarray]  # grey uint8, image 1 first; sizes may differ
    homographies: list[np.ndarray]  # H_1_k for k = 2 … len(images), float64 3x3

    @property
    def kind(self) -> str:
        """``"i"`` (illumination) or ``"v"`` (viewpoint), from the folder name's prefix."""
        return self.name.split("_", 1)[0]


def default_root() -> Path:
    return Path(os.environ.get("HPATCHES_ROOT", "data/hpatches"))


def _find_image(folder: Path, index: int) -> Path:
    for suffix in IMAGE_SUFFIXES:
        path = folder / f"{index}{suffix}"
        if path.is_file():
            return path
    raise HPatchesError(f"{folder}: image {index} is missing (looked for {index}.ppm, {index}.png, {index}.jpg, …)")


def read_homography(path: Path) -> np.ndarray:
    if not path.is_file():
        raise HPatchesError(f"{path}: homography file is missing")
    try:
        matrix = np.loadtxt(path, dtype=np.float64)
    except ValueError as error:
        raise HPatchesError(f"{path}: not a 3x3 matrix of numbers ({error})") from None
    if matrix.shape != (3, 3):
        raise HPatchesError(f"{path}: expected a 3x3 matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise HPatchesError(f"{path}: the homography is not finite (it holds NaN or inf)")
    if abs(np.linalg.det(matrix)) < 1e-12:
        raise HPatchesError(f"{path}: the homography is not invertible (determinant {np.linalg.det(matrix):.3g})")
    return matrix


def load_sequence(folder: Path, num_images: int = 6) -> Sequence:
    images, homographies = [], []
    for index in range(1, num_images + 1):
        path = _find_image(folder, index)
        try:
            grey = read_grey(path)
        except ImageError as error:
            raise HPatchesError(str(error)) from None
        images.append(grey)
        if index > 1:
            homographies.append(read_homography(folder / f"H_1_{index}"))
    return Sequence(folder.name, images, homographies)


def load_hpatches(root: Path | None = None, only: str | None = None) -> list[Sequence]:
    """All ``i_*`` / ``v_*`` sequences under ``root`` (``only="i"`` or ``"v"`` keeps one kind)."""
    root = Path(root) if root is not None else default_root()
    if not root.is_dir():
        raise HPatchesError(f"HPatches root {root} does not exist. {HPATCHES_HELP}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name[:2] in ("i_", "v_"))
    if only:
        folders = [p for p in folders if p.name.startswith(only + "_")]
    if not folders:
        raise HPatchesError(f"{root} holds no i_* or v_* sequence folders. {HPATCHES_HELP}")
    return [load_sequence(folder) for folder in folders]
