"""The Python API: one :class:`Detector` for the students, the SuperPoint teacher and the classical
detectors, on NumPy or torch images of any kind.

    import distill
    det = distill.Detector.from_checkpoint("runs/demo/last.pt")     # or .superpoint(), .classical("shi")
    features = det(image)                                          # image: H x W (x 3) uint8 or float in [0, 1]
    features.keypoints, features.scores                            # N x 2 (x, y), N; strongest first

It is the same path as ``distill detect`` and ``distill eval``: the image becomes a grey uint8 array
(as the evaluation reads images), the detector's score map is post-processed by the shared keypoint
extraction, so the API, the command line and the benchmarks give the same points.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Union

import cv2
import numpy as np
import torch

from distill.eval.detectors import CLASSICAL, ScoreMapDetector, build_detectors, describe, detect
from labels.images import read_grey


@dataclass
class Features:
    """Keypoints of one image: ``keypoints`` N x 2 (x, y) pixel centres at integer coordinates,
    ``scores`` N, strongest first; NumPy arrays for a NumPy image, torch tensors for a torch image."""

    keypoints: Any
    scores: Any
    descriptors: Any = None  # N x 256 L2-normalised, row i for keypoint i, when the detector has descriptors

    def __len__(self) -> int:
        return len(self.keypoints)


Image = Union[np.ndarray, torch.Tensor, str, Path]


def to_grey_uint8(image: Image | list[Image], channels: str = "rgb") -> tuple[list[np.ndarray], bool]:
    """One image or a batch, as ``H x W`` grey uint8 arrays, and whether it was a batch.

    One image: a path (read as every command reads images); NumPy ``H x W`` or ``H x W x C`` with ``C`` 1, 3
    or 4 (``channels`` ``rgb`` or ``bgr``, OpenCV's order; a fourth channel is alpha and is dropped); torch
    ``H x W`` or ``C x H x W`` (RGB, ``C`` 1, 3 or 4). A batch: a list of images, a NumPy ``B x H x W x C``
    or a torch ``B x C x H x W``; a 3-D array is never a batch. uint8 values are grey levels; float values
    must be finite and lie in [0, 1]. Anything else is a ``TypeError`` or ``ValueError`` saying what was given.
    """
    if channels not in ("rgb", "bgr"):
        raise ValueError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
    if isinstance(image, (list, tuple)):
        if not image:
            raise ValueError("an empty list of images")
        greys = []
        for index, single in enumerate(image):
            if isinstance(single, (list, tuple)) or single is None or np.isscalar(single):
                raise TypeError(f"image {index} of the list is {_kind(single)}, not an image (a path, NumPy array or torch tensor)")
            one, batch = to_grey_uint8(single, channels)
            if batch:
                raise ValueError(f"image {index} of the list is a batch ({_shape(single)}); a list holds single images")
            greys += one
        return greys, True
    if isinstance(image, (str, Path)):
        return [read_grey(image)], False
    if isinstance(image, torch.Tensor):
        if image.ndim not in (2, 3, 4) or (image.ndim > 2 and image.shape[-3] not in (1, 3, 4)):
            raise ValueError(f"a torch image must be H x W, C x H x W or a batch B x C x H x W with C 1, 3 or 4, got {_shape(image)}")
        array = image.detach().cpu()
        array = array.float() if array.is_floating_point() and array.dtype != torch.float64 else array  # NumPy has no bfloat16
        array = array[(None,) * (4 - array.ndim)] if array.ndim < 4 else array
        return _greys(array.permute(0, 2, 3, 1).numpy(), "rgb", image), image.ndim == 4
    if not isinstance(image, np.ndarray):
        raise TypeError(f"an image must be a path, a NumPy array or a torch tensor (or a list of them), got {_kind(image)}")
    if image.ndim == 2:
        return _greys(image[None, ..., None], channels, image), False
    if image.ndim in (3, 4) and image.shape[-1] in (1, 3, 4):
        return _greys(image if image.ndim == 4 else image[None], channels, image), image.ndim == 4
    raise ValueError(f"a NumPy image must be H x W or H x W x C with C 1, 3 or 4, or a batch B x H x W x C, got {_shape(image)}"
                     + ("; for a batch of grey images pass a list, or B x H x W x 1" if image.ndim == 3 else ""))


def _greys(array: np.ndarray, channels: str, given) -> list[np.ndarray]:
    """``B x H x W x C`` (``C`` 1, 3 or 4) -> ``B`` grey uint8 images."""
    if 0 in array.shape:
        raise ValueError(f"the image is empty ({_shape(given)})")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"image values must be uint8 grey levels or floats in [0, 1], got dtype {array.dtype}")
        if not np.isfinite(array).all():
            raise ValueError(f"the image holds {int((~np.isfinite(array)).sum())} values that are NaN or infinite")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(f"float images must lie in [0, 1], got values in [{array.min():.3g}, {array.max():.3g}]")
        array = np.round(array * 255).astype(np.uint8)
    code = cv2.COLOR_RGB2GRAY if channels == "rgb" else cv2.COLOR_BGR2GRAY
    return [single[..., 0] if single.shape[-1] == 1 else cv2.cvtColor(np.ascontiguousarray(single[..., :3]), code)
            for single in array]


def _kind(value) -> str:
    """``None``, or the type and (the start of) the value: ``int 1``."""
    return "None" if value is None else f"{type(value).__name__} {repr(value)[:40]}"


def _shape(value) -> str:
    return " x ".join(map(str, tuple(value.shape))) or "a scalar"


class Detector:
    """A keypoint detector: a student, the SuperPoint teacher or a classical one (see the module docstring)."""

    def __init__(self, detector: ScoreMapDetector) -> None:
        self.detector = detector

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", runtime: str = "torch") -> "Detector":
        """A trained student (``runs/<name>/last.pt``, or an exported ``.onnx``), with its checkpoint's
        detection settings. ``runtime``: ``torch``, ``onnx`` (ONNX Runtime; the checkpoint is exported once,
        which takes minutes) or ``onnx-int8`` (quantised once more; the fastest on a CPU). The ONNX runtimes
        need the ``[onnx]`` extra."""
        from distill.student.detector import checkpoint_detector

        return cls(checkpoint_detector(Path(path), device, runtime))

    @classmethod
    def pretrained(cls, name: str = "default", device: str = "cpu", runtime: str = "torch") -> "Detector":
        """A student that ships with the package (``distill/pretrained.py``; non-commercial research use):
        ``default`` (the most accurate, with descriptors) or ``fast`` (the fastest, meant for
        ``runtime="onnx-int8"``; keypoints only);
        ``runtime`` as in :meth:`from_checkpoint`."""
        from distill.pretrained import released_checkpoint

        return cls.from_checkpoint(released_checkpoint(name), device, runtime)

    @classmethod
    def superpoint(cls, device: str = "cpu") -> "Detector":
        """The SuperPoint teacher (MagicLeap weights, non-commercial research use)."""
        return cls(build_detectors(["superpoint"], device)[0])

    @classmethod
    def classical(cls, name: str) -> "Detector":
        """One of OpenCV's detectors: fast, harris, shi, sift, orb."""
        if name not in CLASSICAL:
            raise ValueError(f"unknown classical detector {name!r}; available: {', '.join(CLASSICAL)}")
        return cls(build_detectors([name])[0])

    @property
    def name(self) -> str:
        return self.detector.name

    def __call__(self, image: Image | list[Image], top_k: int | None = None, threshold: float | None = None,
                 nms_radius: int | None = None, subpixel: bool = False, channels: str = "rgb",
                 descriptors: bool = True) -> Features | list[Features]:
        """Features of one image, or a list for a batch (:func:`to_grey_uint8` says what an image and a batch are). ``threshold`` and ``nms_radius`` default to the
        detector's own (a student's come from its checkpoint); ``subpixel`` refines each point to the
        vertex of a parabola fit to its 3x3 neighbourhood; ``channels``: order of 3-channel NumPy images;
        ``descriptors=False`` skips them (a student then never runs its descriptor branch)."""
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        if nms_radius is not None and nms_radius < 0:
            raise ValueError(f"nms_radius must be >= 0, got {nms_radius}")
        if threshold is not None and not math.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {threshold}")
        greys, batch = to_grey_uint8(image, channels)
        detector = self.detector
        if threshold is not None:
            detector = replace(detector, threshold=threshold)
        torch_out = all(isinstance(single, torch.Tensor) for single in (image if isinstance(image, (list, tuple)) else [image]))
        features = []
        for grey in greys:
            xy, scores = detect(detector, grey, nms_radius, top_k, subpixel)
            described = describe(detector, grey, xy) if descriptors else None
            if torch_out:
                xy, scores = torch.from_numpy(xy), torch.from_numpy(scores)
                described = None if described is None else torch.from_numpy(described)
            features.append(Features(xy, scores, described))
        return features if batch else features[0]
