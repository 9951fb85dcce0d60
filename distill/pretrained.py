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

# the third-round detector ft-r3t13-s0 with a descriptor branch trained onto it (README, "The released student")
RELEASED = "student-r3-desc-fp16.pt"  # distill export --checkpoint runs/ft-r3t13-s0-desc/last.pt --fp16
SHA256 = "061bc168bddb9aaab0dc32b210ff713889d9cd3e87c9d089e522ba519d53c053"


def released_checkpoint() -> Path:
    """The packaged checkpoint, checksum-verified."""
    path = Path(str(resources.files("distill") / "weights" / RELEASED))
    if not path.is_file():
        raise CheckpointError(f"the released student {path} is missing from this installation (reinstall distill)")
    actual = sha256_of(path)
    if actual != SHA256:
        raise CheckpointError(f"the released student {path} has sha256 {actual}, expected {SHA256}: the file is damaged")
    return path
