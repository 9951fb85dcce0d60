"""The released student: a trained student shipped inside the package (``distill/weights/``), loaded by
``distill.Detector.pretrained()`` and ``distill detect --pretrained`` with no training and no network.

It was distilled from the MagicLeap SuperPoint weights and inherits their licence: non-commercial
research use only. The README gives the commands that reproduce it.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from distill.student.checkpoint import CheckpointError
from teachers.weights import sha256_of

# the third-round detector fine-tuned 1600 steps (ft-r3t13L-s0) with a descriptor branch trained onto it
# (README, "The released student")
RELEASED = "student-r3L-desc-fp16.pt"  # distill export --checkpoint runs/ft-r3t13L-s0-desc/last.pt --fp16
SHA256 = "b4d993363a9b5e737e647d5db38d5638052f9dcfa4a82bda672361ac71f39984"


def released_checkpoint() -> Path:
    """The packaged checkpoint, checksum-verified."""
    path = Path(str(resources.files("distill") / "weights" / RELEASED))
    if not path.is_file():
        raise CheckpointError(f"the released student {path} is missing from this installation (reinstall distill)")
    actual = sha256_of(path)
    if actual != SHA256:
        raise CheckpointError(f"the released student {path} has sha256 {actual}, expected {SHA256}: the file is damaged")
    return path
