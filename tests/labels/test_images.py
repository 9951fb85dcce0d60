"""labels.images: the one image reader. A PNG's colour profile is dropped before OpenCV decodes it, so that a
malformed profile (scikit-image's page.png) prints no libpng warning, and the pixels stay OpenCV's."""
import subprocess
import sys

import cv2
import numpy as np

from labels.images import PNG_SIGNATURE, embedded_images, read_bytes, read_grey, without_icc_profile


def chunk_types(data: bytes) -> list[bytes]:
    types, offset = [], len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        types.append(data[offset + 4:offset + 8])
        offset += 12 + int.from_bytes(data[offset:offset + 4], "big")
    return types


def page_png():
    return next(path for path in embedded_images() if path.name == "page.png")


def test_the_colour_profile_is_dropped_and_the_pixels_are_opencvs():
    data = read_bytes(page_png())
    stripped = without_icc_profile(data)
    assert b"iCCP" in chunk_types(data) and chunk_types(stripped) == [t for t in chunk_types(data) if t != b"iCCP"]
    assert np.array_equal(read_grey(page_png()), cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE))


def test_other_bytes_are_left_as_they_are():
    jpeg = next(path for path in embedded_images() if path.suffix == ".jpg")
    assert without_icc_profile(read_bytes(jpeg)) == read_bytes(jpeg)
    _, plain_png = cv2.imencode(".png", np.zeros((16, 16), np.uint8))
    assert without_icc_profile(plain_png.tobytes()) == plain_png.tobytes()


def test_reading_the_page_prints_no_libpng_warning():
    read = f"from labels.images import read_grey; from pathlib import Path; read_grey(Path({str(page_png())!r}))"
    ours = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, timeout=60)
    assert ours.returncode == 0 and "libpng warning" not in ours.stderr
