"""Shared fixtures: the real SuperPoint teacher and small real photos."""
from __future__ import annotations

import importlib.util
import os

os.environ["TERMINAL_WIDTH"] = "1000"  # typer's boxed usage errors on one line, as the tests read them: set before typer loads
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
import torch

from labels.images import embedded_images, resize_image
from teachers.superpoint import SuperPoint

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "experiments"

# one thread per pytest-xdist worker (two workers share the two cores of CI), two in a plain run
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory) -> Path:
    """Exported ONNX models go to a cache of the test run's own, never the user's ``~/.cache/distill``."""
    folder = tmp_path_factory.mktemp("cache")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    return folder / "distill" / "onnx"


@pytest.fixture(scope="session")
def teacher() -> SuperPoint:
    return SuperPoint.pretrained()


def embedded(name: str) -> Path:
    return next(p for p in embedded_images() if p.stem == name)


@pytest.fixture(scope="session")
def photo() -> torch.Tensor:
    """``1 x 120 x 160`` grey astronaut photo in [0, 1]."""
    grey = cv2.imread(str(embedded("astronaut")), cv2.IMREAD_GRAYSCALE)
    return torch.from_numpy(resize_image(grey, (120, 160)).astype(np.float32) / 255)[None]


@pytest.fixture()
def image_folder(tmp_path: Path) -> Path:
    """Four small real photos as PNG files in a folder."""
    return write_photos(tmp_path / "images")


def write_photos(folder: Path) -> Path:
    """Four small real photos (96 x 128 PNG) written into ``folder``."""
    folder.mkdir(parents=True)
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


HPATCHES_SIZE = (240, 320)


def viewpoint_homography(k: int) -> np.ndarray:
    """A mild viewpoint change growing with k."""
    angle = 0.04 * k
    return np.array([[np.cos(angle), -np.sin(angle), 6.0 * k], [np.sin(angle), np.cos(angle), -4.0 * k],
                     [1e-5 * k, 2e-5 * k, 1.0]])


@pytest.fixture()
def hpatches_root(tmp_path: Path) -> Path:
    """One i_ and one v_ sequence made from a real photo with known homographies."""
    root = tmp_path / "hpatches"
    photo = cv2.resize(cv2.imread(str(embedded("camera")), cv2.IMREAD_GRAYSCALE), (HPATCHES_SIZE[1], HPATCHES_SIZE[0]))
    for name in ("i_photo", "v_photo"):
        (root / name).mkdir(parents=True)
        cv2.imwrite(str(root / name / "1.ppm"), cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR))
        for k in range(2, 7):
            h = np.eye(3) if name.startswith("i_") else viewpoint_homography(k)
            image = np.clip(photo * (1 - 0.08 * k), 0, 255).astype(np.uint8) if name.startswith("i_") \
                else cv2.warpPerspective(photo, h, (HPATCHES_SIZE[1], HPATCHES_SIZE[0]))
            cv2.imwrite(str(root / name / f"{k}.ppm"), cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
            np.savetxt(root / name / f"H_1_{k}", h)
    return root


def load_script(name: str) -> ModuleType:
    """``scripts/experiments/<name>.py`` imported as a module (scripts are not a package); its folder on the path, as
    when the script runs, so that it may import a sibling."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    """``python scripts/experiments/<name>.py args...`` from the repository root; its output as text."""
    return subprocess.run([sys.executable, str(SCRIPTS / f"{name}.py"), *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(SCRIPTS.parents[1])})


@pytest.fixture
def seed_checkpoints(tmp_path: Path) -> list[str]:
    """Two checkpoints equal but for their seed: the released student saved twice, as ``s0/last.pt`` and ``s1/last.pt``
    (so the seeds agree exactly)."""
    from distill.api import checkpoint_path

    released = torch.load(checkpoint_path("pretrained"), map_location="cpu", weights_only=False)
    paths = []
    for seed in (0, 1):
        released["config"]["seed"] = seed
        (tmp_path / f"s{seed}").mkdir()
        torch.save(released, tmp_path / f"s{seed}" / "last.pt")
        paths.append(str(tmp_path / f"s{seed}" / "last.pt"))
    return paths


@pytest.fixture
def keypoints_only_checkpoint(tmp_path: Path) -> Path:
    """The fast release with its descriptor branch taken off: a student whose keypoints are real and that has no
    descriptor head (``student.descriptor_dim`` 0)."""
    from distill.api import checkpoint_path

    released = torch.load(checkpoint_path("pretrained:fast"), map_location="cpu", weights_only=False)
    released["model"] = {k: v for k, v in released["model"].items() if not k.startswith("descriptor")}
    released["config"]["student"].update(descriptor_dim=0, descriptor_channels=0)
    released["config"]["descriptor_store"] = None  # what taught the descriptors it no longer has
    path = tmp_path / "keypoints-only" / "last.pt"
    path.parent.mkdir()
    torch.save(released, path)
    return path
