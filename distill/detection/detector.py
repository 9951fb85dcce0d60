"""Detectors under one interface: a dense score map per image, post-processed alike (max-pool NMS,
threshold, strongest first) by :func:`detect`; descriptors sampled at the keypoints by :func:`describe`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch

from labels.images import resize_image
from teachers.config import DetectionConfig
from teachers.keypoints import extract_keypoints
from teachers.superpoint import sample_descriptors


# a network's descriptors at points: each image's N_i x 2 pixel positions (x, y) -> its N_i x D L2-normalised descriptors
Describer = Callable[[list[torch.Tensor]], list[torch.Tensor]]


@dataclass
class ScoreMapDetector:
    name: str
    score_map: Callable[[np.ndarray], torch.Tensor]  # grey uint8 H x W -> H x W float scores (0: no point)
    threshold: float = 0.0  # keep scores strictly above it (networks: their DetectionConfig's)
    nms_radius: int = DetectionConfig.nms_radius  # unless the caller (a protocol) sets one for all detectors
    device: str = "cpu"
    # (grey, N x 2 keypoints) -> N x 256 L2-normalised descriptors, for detectors that have them; called
    # right after score_map on the same image, it may reuse that pass
    describe: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    # networks: a batch B x 1 x H x W float in [0, 1] on `device` -> (B x H x W probability, a function giving each
    # image's N_i x D descriptors at its N_i x 2 points, or None); one forward pass, its descriptors only when asked
    network: Callable[[torch.Tensor], tuple[torch.Tensor, Describer | None]] | None = None
    # the confidence LightGlue's matches of its descriptors must exceed unless the caller sets one (a released
    # student's own, chosen on validation photos, or a checkpoint's); None: LightGlue's default (choices.FILTER_THRESHOLD)
    filter_threshold: float | None = None


def to_tensor(grey: np.ndarray, device: str) -> torch.Tensor:
    """``H x W`` uint8 -> ``1 x 1 x H x W`` float in [0, 1] on ``device``."""
    return torch.from_numpy(grey).to(device).float().div_(255)[None, None]


def sampled(dense: Callable[[], torch.Tensor]) -> Describer:
    """A :data:`Describer` of a network whose descriptors are dense: ``dense()`` gives the batch's ``B x D x H'/8 x
    W'/8`` descriptors of the images padded to multiples of 8 (computed when first asked for), sampled at each
    image's points as SuperPoint samples them, in the padded image's frame."""
    def at(points: list[torch.Tensor]) -> list[torch.Tensor]:
        descriptors = dense()
        padded = (8 * descriptors.shape[-2], 8 * descriptors.shape[-1])
        return [sample_descriptors(cells, xy, padded) for cells, xy in zip(descriptors, points)]

    return at


def describing(network: Callable[[np.ndarray], tuple[torch.Tensor, Describer]], device: str):
    """``(score_map, describe)`` of a network that gives, for a grey image, its ``H x W`` probability and a
    :data:`Describer` of that image (called only when descriptors are asked for, so detection alone skips a
    student's descriptor branch). ``describe`` reuses the pass of the image scored last."""
    last: dict = {}

    @torch.inference_mode()
    def score(grey: np.ndarray) -> torch.Tensor:
        probability, describer = network(grey)
        last.update(grey=grey, describer=describer)
        return probability

    @torch.inference_mode()
    def describe(grey: np.ndarray, xy: np.ndarray) -> np.ndarray:
        if last.get("grey") is not grey:
            score(grey)
        points = torch.from_numpy(np.asarray(xy, np.float32)).to(device)
        return last["describer"]([points])[0].cpu().numpy()

    return score, describe


def detect(detector: ScoreMapDetector, grey: np.ndarray, nms_radius: int | None = None, top_k: int | None = None,
           subpixel: bool = False, border: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(xy N x 2, scores N)`` of one grey uint8 image, strongest first, after NMS (``nms_radius``,
    default the detector's own); points closer than ``border`` px to the edge dropped."""
    scores = detector.score_map(grey)
    radius = detector.nms_radius if nms_radius is None else nms_radius
    keypoints = extract_keypoints(scores[None], detector.threshold, radius, top_k, border, subpixel)[0]
    return keypoints.xy.cpu().numpy(), keypoints.scores.cpu().numpy()


def scaled_size(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """``H x W`` of an image of ``shape`` resized by ``factor``, sides rounded and at least 8."""
    return max(8, round(shape[0] * factor)), max(8, round(shape[1] * factor))


def check_scales(scales) -> None:
    """Multi-scale factors must be numbers between 0.05 and 4 (a ValueError names what was given)."""
    if not scales or not all(isinstance(f, (int, float)) and 0.05 <= f <= 4 for f in scales):
        raise ValueError(f"scales must be factors between 0.05 and 4 (1: the image itself), got {list(scales) if scales else scales!r}")


def fused_scales_note(scales) -> str:
    """How a report names a multi-scale set (``score maps at 1, 0.5x averaged``); empty for the image alone."""
    return "" if tuple(scales) == (1.0,) else f"score maps at {', '.join(f'{f:g}' for f in scales)}x averaged"


def check_resize(resize) -> None:
    """A working resolution is a whole number of pixels of at least 8 (the long side), or None (a ValueError names
    what was given)."""
    if resize is not None and (isinstance(resize, bool) or not isinstance(resize, int) or resize < 8):
        raise ValueError(f"resize must be a whole number of pixels >= 8 (the long side), or None, got {resize!r}")


def multi_scale(detector: ScoreMapDetector, factors: tuple[float, ...]) -> ScoreMapDetector:
    """``detector`` whose score map of an image is the mean of its maps of the image resized by each of ``factors``
    (1 among them, or added), each resized back to the image (bilinear), before the one NMS: points that hold
    across scales score higher. Costs the sum of the factors squared in pixels (1, 0.78, 0.625, 0.5: 2.25x). The image
    itself is scored last, so that descriptors reuse its pass; no batched forward (``network`` is None)."""
    others = [f for f in factors if f != 1.0]
    if not others:
        return detector

    def score_map(grey: np.ndarray) -> torch.Tensor:
        maps = []
        for factor in others:
            scores = detector.score_map(resize_image(grey, scaled_size(grey.shape, factor))).cpu().numpy().astype(np.float32)
            maps.append(cv2.resize(scores, grey.shape[::-1], interpolation=cv2.INTER_LINEAR))
        base = detector.score_map(grey).cpu().numpy().astype(np.float32)
        return torch.from_numpy((base + sum(maps)) / (1 + len(maps)))

    return ScoreMapDetector(f"{detector.name} (scales {', '.join(f'{f:g}' for f in (1.0, *others))})", score_map,
                            detector.threshold, detector.nms_radius, "cpu", detector.describe)


def working_size(shape: tuple[int, int], resize: int | None) -> tuple[int, int] | None:
    """The ``H x W`` an image of ``shape`` is detected at under a working resolution of ``resize`` pixels on its long
    side (as LightGlue's extractors take it, but never enlarging); ``None``: as it is (no ``resize``, or an image
    whose long side is at most ``resize``)."""
    if resize is None or max(shape[:2]) <= resize:
        return None
    return scaled_size(shape, resize / max(shape[:2]))


def to_original_pixels(xy, shape: tuple[int, int], size: tuple[int, int]):
    """Points (NumPy or torch, ``N x 2``) of an image resized from ``shape`` to ``size`` (both ``H x W``), back in its
    own pixels (pixel centres at integer coordinates: ``x = (x' + 0.5) W / W' - 0.5``, the inverse of
    :func:`teachers.homographies.resize_transform`)."""
    scale = (shape[1] / size[1], shape[0] / size[0])
    if isinstance(xy, torch.Tensor):
        return (xy + 0.5) * torch.tensor(scale, dtype=xy.dtype, device=xy.device) - 0.5
    return ((np.asarray(xy, np.float32) + 0.5) * np.array(scale, np.float32) - 0.5).astype(np.float32)


def detect_at_size(detector: ScoreMapDetector, grey: np.ndarray, size: tuple[int, int] | None, nms_radius: int | None = None,
                   top_k: int | None = None, subpixel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`detect` on ``grey`` resized to ``size`` (``H x W``; ``None``: as it is), points mapped back
    to ``grey``'s pixels with the pixel-centre convention (:func:`to_original_pixels`)."""
    if size is None or tuple(size) == grey.shape[:2]:
        return detect(detector, grey, nms_radius, top_k, subpixel)
    xy, scores = detect(detector, resize_image(grey, size), nms_radius, top_k, subpixel)
    return to_original_pixels(xy, grey.shape, size), scores


def score_map_at(detector: ScoreMapDetector, grey: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """``detector``'s score map of ``grey`` resized to ``size`` (``H x W``; ``None``: as it is), its 3x3
    maximum resized back to ``grey``'s pixels (bilinear): a coarse confidence at every pixel of ``grey``."""
    scores = detector.score_map(grey if size is None else resize_image(grey, size)).numpy().astype(np.float32)
    return cv2.resize(cv2.dilate(scores, np.ones((3, 3), np.uint8)), grey.shape[::-1], interpolation=cv2.INTER_LINEAR)


def describe(detector: ScoreMapDetector, grey: np.ndarray, xy: np.ndarray) -> np.ndarray | None:
    """``N x 256`` descriptors of ``xy`` in ``grey`` (bilinear at the pixel centres, as SuperPoint samples
    them), or ``None`` for a detector without descriptors."""
    return None if detector.describe is None else detector.describe(grey, xy)


@torch.inference_mode()
def detect_batch(detector: ScoreMapDetector, images: torch.Tensor, nms_radius: int | None = None, top_k: int | None = None,
                 subpixel: bool = False, descriptors: bool = True) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """``(xy N x 2, scores N, descriptors N x D or None)`` of each image of a ``B x 1 x H x W`` batch (float in
    [0, 1] on the detector's device), in one forward pass of its ``network``, on that device: the same points
    as :func:`detect` and :func:`describe` give image by image."""
    probability, describer = detector.network(images)
    radius = detector.nms_radius if nms_radius is None else nms_radius
    found = extract_keypoints(probability, detector.threshold, radius, top_k, 0, subpixel)
    described = describer([k.xy for k in found]) if descriptors and describer is not None else [None] * len(found)
    return [(k.xy, k.scores, d) for k, d in zip(found, described)]
