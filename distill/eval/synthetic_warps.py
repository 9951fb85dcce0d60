"""A benchmark without HPatches: sequences built from photos (by default the held-out photos that ship with
scikit-image, which no shipped or demo student trains on) with seeded random homographies (``v_*``) or
photometric changes under the identity (``i_*``): mixed ones, an exposure series or a defocus series. Synthetic: every output
says so."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from distill.eval.sequences import Sequence
from labels.images import read_grey, resize_image
from teachers.homographies import HomographyConfig, sample_homography

VIEWPOINT = HomographyConfig(patch_ratio=0.8, scaling_amplitude=0.2, perspective_amplitude=0.2,
                             max_angle=math.pi / 12, translation=True)


def viewpoint(strength: float = 1.0) -> HomographyConfig:
    """``VIEWPOINT`` with its scaling, perspective and rotation amplitudes times ``strength`` (2: scale std 0.4,
    corner displacement std 0.4, rotations up to 30 degrees); the zoom of the centred patch stays."""
    if strength <= 0:
        raise ValueError(f"the warp strength must be positive, got {strength}")
    return replace(VIEWPOINT, scaling_amplitude=VIEWPOINT.scaling_amplitude * strength,
                   perspective_amplitude=VIEWPOINT.perspective_amplitude * strength, max_angle=VIEWPOINT.max_angle * strength)


def photometric(grey: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Gain, gamma, blur and Gaussian noise, growing with ``strength`` in (0, 1]."""
    image = grey.astype(np.float32) / 255
    image = np.clip(image * rng.uniform(1 - 0.5 * strength, 1 + 0.3 * strength), 0, 1)
    image = image ** rng.uniform(1 - 0.4 * strength, 1 + 0.6 * strength)
    sigma = 2.0 * strength * rng.uniform(0.3, 1.0)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image = image + rng.normal(0, 0.03 * strength, image.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


EXPOSURE_STOPS = 3.0


def exposure(grey: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A darker shot of the same scene, as a camera stores it: ``round(x 2^-s + n)`` in 8 bits with
    ``s = EXPOSURE_STOPS * strength`` stops and sensor noise ``n ~ N(0, 1.5)`` grey levels (the darkest frame of
    the series, at strength 1, keeps an eighth of the grey levels, as in HPatches' ``i_leuven``)."""
    image = grey.astype(np.float32) * 2.0 ** (-EXPOSURE_STOPS * strength) + rng.normal(0, 1.5, grey.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


BLUR_SIGMA = 3.0


def defocus(grey: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """The same shot out of focus: a Gaussian blur of ``sigma = BLUR_SIGMA * strength`` px, then sensor noise
    ``n ~ N(0, 1.5)`` grey levels, in 8 bits (at 480x640 the series' last frames blur about as much as HPatches'
    ``i_bikes`` at its end, where a fitted Gaussian reaches 2 to 2.5 px)."""
    image = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), BLUR_SIGMA * strength) + rng.normal(0, 1.5, grey.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


ILLUMINATION = ("mixed", "exposure", "blur")
SERIES = {"exposure": exposure, "blur": defocus}


def warped_sequences(photos: list[Path], size: tuple[int, int] = (480, 640), seed: int = 0,
                     strength: float = 1.0, illumination: str = "mixed") -> list[Sequence]:
    """``2 * len(photos)`` sequences of 6 images each (``i_`` and ``v_`` per photo), each photo resized to ``size``;
    the ``v_`` homographies drawn from :func:`viewpoint` at ``strength``; the ``i_`` changes :func:`photometric`
    (``"mixed"``), :func:`exposure` (``"exposure"``) or :func:`defocus` (``"blur"``): a series draws its noise from a
    generator of its own and the mixed changes are drawn either way, so the ``v_`` sequences are the same for all three."""
    if illumination not in ILLUMINATION:
        raise ValueError(f"illumination must be one of {ILLUMINATION}, got {illumination!r}")
    warps = viewpoint(strength)
    rng = np.random.default_rng(seed)
    series_rng = np.random.default_rng((seed, 1))
    h, w = size
    sequences = []
    for path in photos:
        grey = resize_image(read_grey(path), size)
        identities = [np.eye(3) for _ in range(5)]
        changed = [grey] + [photometric(grey, rng, k / 5) for k in range(1, 6)]
        if illumination in SERIES:
            changed = [grey] + [SERIES[illumination](grey, series_rng, k / 5) for k in range(1, 6)]
        sequences.append(Sequence(f"i_{path.stem}", changed, identities))
        homographies = [sample_homography(rng, h, w, warps) for _ in range(5)]
        warped = [grey] + [photometric(cv2.warpPerspective(grey, hk, (w, h)), rng, 0.2) for hk in homographies]
        sequences.append(Sequence(f"v_{path.stem}", warped, homographies))
    return sequences
