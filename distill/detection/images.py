"""Image normalisation: whatever a user passes (a path, NumPy or torch, grey, colour or with alpha, uint8 or
float, one image or a batch) as the ``H x W`` grey uint8 images every detector reads, or an error saying
what was given."""
from __future__ import annotations

from pathlib import Path
from typing import Union

import cv2
import numpy as np
import torch

from labels.images import read_grey

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
    if isinstance(image, torch.Tensor):  # checked and turned grey by grey_levels, the same levels as OpenCV's
        levels, batch = grey_levels(image.detach())
        return list(levels[:, 0].mul(255).round().byte().cpu().numpy()), batch
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


def grey_levels(image: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """A torch image (``H x W``, ``C x H x W``) or batch (``B x C x H x W``), ``C`` 1, 3 or 4 (RGB, alpha dropped),
    as a ``B x 1 x H x W`` float batch on its own device, and whether it was a batch: the grey levels
    :func:`to_grey_uint8` gives, divided by 255 (OpenCV's fixed-point RGB to grey, ``(9798 R + 19235 G + 3735 B
    + 16384) >> 15``, computed on the device), so a GPU image never goes through the CPU."""
    if image.ndim not in (2, 3, 4) or (image.ndim > 2 and image.shape[-3] not in (1, 3, 4)):
        raise ValueError(f"a torch image must be H x W, C x H x W or a batch B x C x H x W with C 1, 3 or 4, got {_shape(image)}")
    batch = image[(None,) * (4 - image.ndim)] if image.ndim < 4 else image
    if 0 in batch.shape:
        raise ValueError(f"the image is empty ({_shape(image)})")
    if batch.is_floating_point():
        batch = batch if batch.dtype == torch.float64 else batch.float()
        bad = int((~torch.isfinite(batch)).sum())
        if bad:
            raise ValueError(f"the image holds {bad} values that are NaN or infinite")
        if batch.min() < 0 or batch.max() > 1:
            raise ValueError(f"float images must lie in [0, 1], got values in [{batch.min():.3g}, {batch.max():.3g}]")
        levels = torch.round(batch * 255).int()
    elif batch.dtype == torch.uint8:
        levels = batch.int()
    else:
        raise ValueError(f"image values must be uint8 grey levels or floats in [0, 1], got dtype {batch.dtype}")
    grey = levels[:, 0] if levels.shape[1] == 1 else (9798 * levels[:, 0] + 19235 * levels[:, 1] + 3735 * levels[:, 2] + 16384) >> 15
    return grey[:, None].float() / 255, image.ndim == 4
