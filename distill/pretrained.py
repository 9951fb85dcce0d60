"""The released students: trained students shipped inside the package (``distill/weights/``), loaded by
``distill.Detector.pretrained(name)`` and ``distill detect --pretrained --release NAME`` with no training
and no network.

- ``default``: the most accurate student, the third-round detector at input scale 0.5 (``ft-r3t13L-s0``)
  with a descriptor branch trained onto it.
- ``fast``: the same detector recipe at input scale 0.25 with a head of 48 channels, the statically
  padded ``efficientnet_lite0`` backbone cut after its stride-8 stage (``student.backbone_levels=2``),
  fine-tuned from ``default`` on its own relabelling of the training photos, on whole 240x320 label
  images rather than crops (``r4l2h48c240-s0``), the fastest in ONNX Runtime int8. Keypoints only: a
  descriptor branch on a 120x160 backbone matched worse than SIFT (README, Students).

Both were distilled from the MagicLeap SuperPoint weights and inherit their licence: non-commercial
research use only. The README gives the commands that reproduce them.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from distill.student.checkpoint import CheckpointError
from teachers.weights import sha256_of


@dataclass(frozen=True)
class Release:
    file: str  # in distill/weights/
    sha256: str


RELEASES = {
    # distill export --checkpoint runs/ft-r3t13L-s0-desc/last.pt --fp16
    "default": Release("student-r3L-desc-fp16.pt", "b4d993363a9b5e737e647d5db38d5638052f9dcfa4a82bda672361ac71f39984"),
    # distill export --checkpoint runs/r4l2h48c240-s0/last.pt --fp16
    "fast": Release("student-fast25l2h48c240-fp16.pt", "243dffd1b8fbbceb818509c46ca2f0a68c3637f2ce311cf416df4a5c1d8ae741"),
}


def released_checkpoint(name: str = "default") -> Path:
    """The packaged checkpoint of the release ``name`` (``RELEASES``), checksum-verified."""
    if name not in RELEASES:
        raise CheckpointError(f"no released student {name!r}; the releases are {', '.join(RELEASES)}")
    release = RELEASES[name]
    path = Path(str(resources.files("distill") / "weights" / release.file))
    if not path.is_file():
        raise CheckpointError(f"the released student {path} is missing from this installation (reinstall distill)")
    actual = sha256_of(path)
    if actual != release.sha256:
        raise CheckpointError(f"the released student {path} has sha256 {actual}, expected {release.sha256}: the file is damaged")
    return path
