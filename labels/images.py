"""Image sources: folders of images and the embedded default set (real photos that ship inside
installed packages, so labelling works on a fresh machine without network)."""
from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

# the image files every command reads; in this order when several could hold one image (HPatches "1.ppm")
IMAGE_SUFFIXES = (".ppm", ".png", ".jpg", ".jpeg", ".pgm", ".bmp", ".tif", ".tiff", ".webp")

# (distribution, path inside it). Photographs only: no drawings, text or synthetic images.
EMBEDDED = [
    ("scikit-image", "skimage/data/astronaut.png"),
    ("scikit-image", "skimage/data/brick.png"),
    ("scikit-image", "skimage/data/camera.png"),
    ("scikit-image", "skimage/data/chelsea.png"),
    ("scikit-image", "skimage/data/coffee.png"),
    ("scikit-image", "skimage/data/coins.png"),
    ("scikit-image", "skimage/data/grass.png"),
    ("scikit-image", "skimage/data/gravel.png"),
    ("scikit-image", "skimage/data/moon.png"),
    ("scikit-image", "skimage/data/motorcycle_left.png"),
    ("scikit-image", "skimage/data/motorcycle_right.png"),
    ("scikit-image", "skimage/data/page.png"),
    ("scikit-image", "skimage/data/rocket.jpg"),
    ("scikit-image", "skimage/data/hubble_deep_field.jpg"),
    ("scikit-learn", "sklearn/datasets/images/china.jpg"),
    ("scikit-learn", "sklearn/datasets/images/flower.jpg"),
    ("matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
]


class ImageError(RuntimeError):
    """An input file that cannot be used as an image; the message names the file and the reason."""


# Real photos of the same packages that no shipped student and no `make demo` student trains on (the embedded set
# above leaves them out): the default of `distill eval warped`. Handwriting on paper, a retina, a stained tissue.
HELD_OUT = [
    ("scikit-image", "skimage/data/text.png"),
    ("scikit-image", "skimage/data/retina.jpg"),
    ("scikit-image", "skimage/data/ihc.png"),
]


def embedded_images() -> list[Path]:
    """Paths of the embedded default photos (found without importing the packages)."""
    return packaged_images(EMBEDDED)


def held_out_images() -> list[Path]:
    """Paths of the held-out photos (``HELD_OUT``): evaluation only, never in the embedded training set."""
    return packaged_images(HELD_OUT)


def packaged_images(entries: list[tuple[str, str]]) -> list[Path]:
    """Paths of ``(distribution, path inside it)`` photos, found without importing the packages."""
    paths = []
    for dist, inner in entries:
        path = Path(metadata.distribution(dist).locate_file(inner))
        if not path.is_file():
            raise FileNotFoundError(f"embedded image {inner} is missing from the installed {dist}")
        paths.append(path)
    return paths


def list_images(roots: Iterable[str | Path]) -> list[Path]:
    """Every file under each root (recursively; a root may also be a file), sorted by path.

    Non-image suffixes are kept when named explicitly (so a bad file passed on purpose is reported)
    and skipped silently when found while walking a folder.
    """
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        if root.is_file():
            found.add(root)
        elif root.is_dir():
            found.update(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            raise FileNotFoundError(f"image folder or file not found: {root}")
    return sorted(found)


def shard(paths: Sequence[Path], index: int, count: int) -> list[Path]:
    """The ``index``-th of ``count`` deterministic slices (1-based ``index``): every ``count``-th
    path of the sorted list, starting at ``index - 1``."""
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: index must be between 1 and {count}")
    return list(paths[index - 1::count])


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n (for example 1/4), got {text!r}") from None
    shard([], index, count)  # validates the range
    return index, count


def content_key(data: bytes) -> str:
    """16 hex digits of the sha1 of a file's bytes: the key of its image in a label store."""
    return hashlib.sha1(data).hexdigest()[:16]


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ImageError(f"{path}: cannot read file ({error.strerror or error})") from None


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def without_icc_profile(data: bytes) -> bytes:
    """PNG bytes without their ``iCCP`` chunk (the colour profile, which OpenCV does not apply, so the pixels stay the
    same), so that libpng prints no warning about a malformed profile (scikit-image's ``page.png`` has one); any other
    bytes unchanged. A chunk is a 4-byte big-endian length, a 4-byte type, the data and a 4-byte CRC."""
    if not data.startswith(PNG_SIGNATURE) or b"iCCP" not in data:
        return data
    kept, offset = [PNG_SIGNATURE], len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        end = offset + 12 + int.from_bytes(data[offset:offset + 4], "big")
        if data[offset + 4:offset + 8] != b"iCCP":
            kept.append(data[offset:end])
        offset = end
    return b"".join(kept) + data[offset:]


def decode_grey(path: Path, data: bytes) -> np.ndarray:
    """Decode image bytes with OpenCV to an ``H x W`` uint8 grey array."""
    if not data:
        raise ImageError(f"{path}: file is empty")
    grey = cv2.imdecode(np.frombuffer(without_icc_profile(data), np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ImageError(f"{path}: not a decodable image (OpenCV could not read it: not an image, or truncated)")
    if min(grey.shape) < 16:
        raise ImageError(f"{path}: image is too small ({grey.shape[0]}x{grey.shape[1]})")
    return grey


def read_grey(path: str | Path) -> np.ndarray:
    """The one image reader of every command: an ``H x W`` uint8 grey image, or :class:`ImageError`
    naming the file (missing, empty, not an image, truncated, too small). Unlike ``cv2.imread``, a
    truncated JPEG is refused instead of half-decoded."""
    path = Path(path)
    return decode_grey(path, read_bytes(path))


def resize_image(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``H x W`` uint8 image to ``size = (rows, cols)`` (area interpolation; OpenCV's pixel
    centres, so points map by :func:`teachers.homographies.resize_transform`)."""
    h, w = size
    return cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA)
