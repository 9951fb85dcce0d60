"""Shared fixtures: the real SuperPoint teacher and small real photos."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from labels.images import embedded_images, resize
from teachers.superpoint import SuperPoint

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def teacher() -> SuperPoint:
    return SuperPoint.pretrained()


def embedded(name: str) -> Path:
    return next(p for p in embedded_images() if p.stem == name)


@pytest.fixture(scope="session")
def photo() -> torch.Tensor:
    """``1 x 120 x 160`` grey astronaut photo in [0, 1]."""
    grey = cv2.imread(str(embedded("astronaut")), cv2.IMREAD_GRAYSCALE)
    return torch.from_numpy(resize(grey, (120, 160)))[None]


@pytest.fixture()
def image_folder(tmp_path: Path) -> Path:
    """Four small real photos as PNG files in a folder."""
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ["astronaut", "camera", "coffee", "brick"]:
        grey = cv2.imread(str(embedded(name)), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(folder / f"{name}.png"), cv2.resize(grey, (128, 96), interpolation=cv2.INTER_AREA))
    return folder


def shared_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent (real data lives beside the project, not in it)")
    return path


def rng_image(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
