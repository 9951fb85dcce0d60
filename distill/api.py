"""The Python API: one :class:`Detector` for the students, the SuperPoint teacher and the classical
detectors, on NumPy or torch images of any kind, and :func:`distill.match` for a pair of images.

    import distill
    det = distill.Detector.pretrained()                            # or .load("runs/demo/last.pt"), .load("shi")
    features = det("photo.jpg")                                    # or an H x W (x C) array / C x H x W tensor
    features.keypoints, features.scores                            # N x 2 (x, y), N; strongest first
    features["keypoints"], features["keypoint_scores"]             # the same, by LightGlue's keys

Every command builds its detectors here (:func:`load_detectors`), so the API, the command line and the
benchmarks give the same points: the image becomes grey uint8 (:mod:`distill.detection.images`), and the
detector's score map is post-processed by the shared keypoint extraction (:mod:`distill.detection.detector`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.choices import AVAILABLE, CLASSICAL, RESIZE
from distill.detection.by_name import build_detectors
from distill.detection.detector import (ScoreMapDetector, check_resize, check_scales, describe, detect, detect_batch, multi_scale,
                                       to_original_pixels, working_size)
from distill.detection.images import Image, grey_levels, to_grey_uint8
from distill.student.errors import CheckpointError
from labels.images import resize_image


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; a CUDA device asked for where there is none is a ValueError."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    return device


def checkpoint_path(spec: str | Path) -> Path:
    """A student's checkpoint: ``pretrained`` or ``pretrained:NAME`` (a released student, checksum-verified),
    or a ``.pt`` / ``.onnx`` file, which must exist."""
    from distill.pretrained import release_named, released_checkpoint

    text = str(spec)
    if release_named(text) is not None:
        return released_checkpoint(release_named(text))
    if not Path(text).is_file():
        raise CheckpointError(f"{text}: no such checkpoint file (nor a detector name: {', '.join(AVAILABLE)}, "
                              f"nor pretrained / pretrained:NAME)")
    return Path(text)


def load_detectors(specs: list[str | Path], device: str = "auto", runtime: str = "torch",
                   ha_homographies: int = 100) -> list["Detector"]:
    """One :class:`Detector` per spec, in order: a detector name (``distill.choices.AVAILABLE``; the teacher
    loaded once for all that need it), ``pretrained`` / ``pretrained:NAME``, or a checkpoint file (students
    run in ``runtime``). The one constructor path of the API and of every command."""
    device = resolve_device(device)
    names = [str(spec) for spec in specs if str(spec) in AVAILABLE]
    by_name = dict(zip(names, build_detectors(names, device, ha_homographies)))
    built = []
    for spec in specs:
        if str(spec) in by_name:
            built.append(Detector(by_name[str(spec)]))
        else:
            from distill.pretrained import RELEASES, release_named, release_of
            from distill.student.detector import checkpoint_detector

            path, named = checkpoint_path(spec), release_named(str(spec))
            detector = checkpoint_detector(path, device, runtime, name=f"student:pretrained:{named}" if named else None)
            release = RELEASES[named] if named else release_of(path)
            if release:  # its file is pinned, so its threshold lives beside the pin
                detector.filter_threshold = release.filter_threshold
            built.append(Detector(detector))
    return built


@dataclass
class Features:
    """Keypoints of one image: ``keypoints`` N x 2 (x, y) pixel centres at integer coordinates, ``scores`` N,
    strongest first, ``descriptors`` N x 256 (L2-normalised, row i for keypoint i) or None, ``image_size``
    ``(width, height)`` as LightGlue gives it; NumPy arrays for NumPy images, torch tensors for torch images.

    It also reads as a mapping with LightGlue's keys, ``features["keypoints"]``, ``["keypoint_scores"]``,
    ``["descriptors"]``, ``["image_size"]`` (``dict(features)`` and ``**features`` work); ``len(features)``
    is the number of keypoints."""

    keypoints: Any
    scores: Any
    descriptors: Any = None
    image_size: Any = None  # (width, height)

    KEYS = {"keypoints": "keypoints", "keypoint_scores": "scores", "descriptors": "descriptors", "image_size": "image_size"}

    def __len__(self) -> int:
        return len(self.keypoints)

    def __repr__(self) -> str:
        kind = type(self.keypoints).__module__.split(".")[0]
        described = "with" if self.descriptors is not None else "without"
        return f"Features({len(self)} keypoints, {described} descriptors, image_size={tuple(int(v) for v in self.image_size) if self.image_size is not None else None}, {kind})"

    def keys(self) -> list[str]:
        return [key for key, field in self.KEYS.items() if getattr(self, field) is not None]

    def __getitem__(self, key: str):
        if key not in self.KEYS:
            raise KeyError(f"{key!r}: Features holds {', '.join(self.keys())}")
        return getattr(self, self.KEYS[key])

    def numpy(self) -> "Features":
        """The same features as NumPy arrays (on the CPU)."""
        def array(value):
            return None if value is None else (value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value))

        return Features(*(array(getattr(self, field)) for field in self.KEYS.values()))

    def to(self, device: str | torch.device) -> "Features":
        """The same features as torch tensors on ``device`` (NumPy arrays are converted)."""
        return Features(*(None if value is None else torch.as_tensor(value).to(device)
                          for value in (getattr(self, field) for field in self.KEYS.values())))


class Detector:
    """A keypoint detector: a student, the SuperPoint teacher or a classical one (see the module docstring)."""

    def __init__(self, detector: ScoreMapDetector) -> None:
        self.detector = detector

    @classmethod
    def load(cls, spec: str | Path, device: str = "auto", runtime: str = "torch") -> "Detector":
        """A detector by name (``superpoint``, ``superpoint-ha``, ``fast``, ``harris``, ``shi``, ``sift``, ``orb``,
        ``random``), ``pretrained`` / ``pretrained:NAME``, or a checkpoint (``runs/<name>/last.pt``, an exported
        ``.onnx``). ``device``: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:N``. ``runtime`` (students):
        ``torch``, ``onnx`` (ONNX Runtime) or ``onnx-int8`` (the fastest on a CPU); the ONNX runtimes need the
        ``[onnx]`` extra and run a released student's shipped model, or an export of a checkpoint cached by its sha256."""
        return load_detectors([spec], device, runtime)[0]

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", runtime: str = "torch") -> "Detector":
        """A trained student, with its checkpoint's detection settings (:meth:`load`)."""
        return cls.load(checkpoint_path(path), device, runtime)

    @classmethod
    def pretrained(cls, name: str = "default", device: str = "auto", runtime: str = "torch") -> "Detector":
        """A student that ships with the package (``distill/pretrained.py``; non-commercial research use):
        ``default`` (the most accurate) or ``fast`` (the fastest, meant for ``runtime="onnx-int8"``), both with
        descriptors; ``runtime`` as in :meth:`load`."""
        return cls.load(f"pretrained:{name}", device, runtime)

    @classmethod
    def superpoint(cls, device: str = "auto") -> "Detector":
        """The SuperPoint teacher (MagicLeap weights, non-commercial research use)."""
        return cls.load("superpoint", device)

    @classmethod
    def classical(cls, name: str) -> "Detector":
        """One of OpenCV's detectors: fast, harris, shi, sift, orb."""
        if name not in CLASSICAL:
            raise ValueError(f"unknown classical detector {name!r}; available: {', '.join(CLASSICAL)}")
        return cls.load(name, "cpu")

    @property
    def name(self) -> str:
        return self.detector.name

    @property
    def filter_threshold(self) -> float | None:
        """The confidence above which LightGlue keeps this detector's matches by default (:func:`distill.match`):
        a released student's own, chosen on validation photos (0.7 for ``default``, 0.5 for ``fast``), or the one a
        checkpoint stores (``distill export --filter-threshold``); None for any other detector, whose matches take
        LightGlue's default, 0.1."""
        return self.detector.filter_threshold

    def __call__(self, image: Image | list[Image], top_k: int | None = None, threshold: float | None = None,
                 nms_radius: int | None = None, subpixel: bool = False, size: tuple[int, int] | None = None,
                 resize: int | None = RESIZE, channels: str = "rgb", descriptors: bool = True,
                 batch_size: int | None = None, scales: tuple[float, ...] = (1.0,)) -> Features | list[Features]:
        """Features of one image, or a list for a batch (:func:`distill.detection.images.to_grey_uint8` says what
        an image and a batch are). ``threshold`` and ``nms_radius`` default to the detector's own (a student's
        come from its checkpoint); ``subpixel`` refines each point to the vertex of a parabola fit to its 3x3
        neighbourhood; ``resize``: the working resolution, an image whose long side exceeds ``resize`` pixels is
        detected (and described) at that long side (``None``: at full resolution; ``distill.choices.RESIZE`` by
        default); ``scales``: also score the (working) image resized by each factor and average the maps before NMS
        (``distill.choices.MULTISCALE``: 1, 0.78, 0.625 and 0.5, 2.25 times the pixels); ``size``: detect at ``(H, W)``
        instead; either way points are returned in the image's own pixels
        (pixel centres at integer coordinates: ``x = (x' + 0.5) W / W' - 0.5``); ``channels``: order of 3-channel NumPy images;
        ``descriptors=False`` skips them (a student then never runs its descriptor branch).

        A network (a student in PyTorch, SuperPoint) runs a torch image on the image's own device end to end
        (the features come back there), and a batch of same-size images ``batch_size`` at a time per forward pass
        (default: 2 on a CPU, where larger batches ran slower at 480x640 on 2 cores, 16 on a GPU)."""
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if nms_radius is not None and nms_radius < 0:
            raise ValueError(f"nms_radius must be >= 0, got {nms_radius}")
        if threshold is not None and not (math.isfinite(threshold) and threshold >= 0):
            raise ValueError(f"threshold must be a finite number >= 0, got {threshold}")
        check_resize(resize)
        check_scales(scales)
        detector = self.detector if threshold is None else replace(self.detector, threshold=threshold)
        detector = multi_scale(detector, tuple(float(f) for f in scales))
        if detector.network is not None and size is None and isinstance(image, torch.Tensor):
            images, batch = grey_levels(image)  # on the image's device, never through the CPU
            work = working_size(tuple(images.shape[-2:]), resize)
            if work is not None:  # area averaging on the device, as OpenCV's INTER_AREA shrinks on the CPU
                images = torch.nn.functional.interpolate(images, size=work, mode="area")
            features = self._batch(detector, images, image.device, nms_radius, top_k, subpixel, descriptors, batch_size,
                                   tuple(image.shape[-2:]))
            return features if batch else features[0]
        greys, batch = to_grey_uint8(image, channels)
        torch_out = all(isinstance(single, torch.Tensor) for single in (image if isinstance(image, (list, tuple)) else [image]))
        if detector.network is not None and size is None and batch and len({grey.shape for grey in greys}) == 1:
            work = working_size(greys[0].shape, resize)
            seen = [resize_image(grey, work) for grey in greys] if work else greys  # as the loop below resizes
            images = torch.from_numpy(np.stack(seen))[:, None].float().div_(255)  # same-size images: one forward pass
            features = self._batch(detector, images, "cpu", nms_radius, top_k, subpixel, descriptors, batch_size, greys[0].shape)
            return features if torch_out else [f.numpy() for f in features]
        features = []
        for grey in greys:
            work = tuple(size) if size is not None else working_size(grey.shape, resize)
            seen = grey if work is None or work == grey.shape else resize_image(grey, work)
            xy, scores = detect(detector, seen, nms_radius, top_k, subpixel)
            described = describe(detector, seen, xy) if descriptors else None  # at the working resolution, as detected
            if seen is not grey:
                xy = to_original_pixels(xy, grey.shape, seen.shape)
            found = Features(xy, scores, described, np.array(grey.shape[::-1]))
            features.append(found.to("cpu") if torch_out else found)
        return features if batch else features[0]

    @staticmethod
    def _batch(detector: ScoreMapDetector, images: torch.Tensor, device, nms_radius: int | None, top_k: int | None,
               subpixel: bool, descriptors: bool, batch_size: int | None, original: tuple[int, int]) -> list[Features]:
        """:func:`detect_batch` on ``B x 1 x H x W`` images, ``batch_size`` per forward pass, the features on ``device``
        with their points in the pixels of the ``original`` (``H x W``) images that were resized to these."""
        step = batch_size or (2 if torch.device(detector.device).type == "cpu" else 16)
        seen = tuple(images.shape[-2:])
        back = (lambda xy: xy) if seen == tuple(original) else (lambda xy: to_original_pixels(xy, original, seen))
        return [Features(back(xy), scores, described, torch.tensor(original[::-1])).to(device)
                for start in range(0, len(images), step)
                for xy, scores, described in detect_batch(detector, images[start:start + step].to(detector.device), nms_radius,
                                                          top_k, subpixel, descriptors)]
