"""The released students: trained students shipped inside the package (``distill/weights/``), loaded by
``distill.Detector.pretrained(name)`` and ``distill detect --pretrained --release NAME`` with no training
and no network.

- ``default``: the most accurate student: the fourth labelling round's detector at input scale 0.5, fine-tuned
  from the third round's on its own relabelling of the training photos with the attentive term at weight 30
  (``att30-s0``), with a descriptor branch trained onto it by cosine distillation of SuperPoint's descriptors,
  then 400 steps more with a metric term on warped pairs (``att30dm-s0``; the detector is unchanged), and last the
  detector's own pyramid and head fine-tuned 800 steps with half the training crops blurred (``kblur-s0``; the
  backbone, the detail branch and the descriptor branch unchanged).
- ``fast``: the same detector recipe at input scale 0.25 with a head of 48 channels, the statically
  padded ``efficientnet_lite0`` backbone cut after its stride-8 stage (``student.backbone_levels=2``),
  fine-tuned from the third-round default release on its own relabelling of the training photos, on whole 240x320 label
  images rather than crops (``r4l2h48c240-s0``), then trained whole with a descriptor branch of its own
  (cosine distillation of that release's descriptors at weight 0.1 beside its keypoint loss,
  ``fjl-s0``): the fastest in ONNX Runtime int8, and it matches with LightGlue's SuperPoint weights.

Each carries the LightGlue confidence threshold its matches take by default (``Release.filter_threshold``,
``distill.Detector.filter_threshold``): the best for its homography AUC@3px on the validation photos' warped pairs.

Both were distilled from the MagicLeap SuperPoint weights and inherit their licence: non-commercial
research use only. docs/models.md gives the commands that reproduce them.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from distill.student.errors import CheckpointError
from teachers.weights import sha256_of


@dataclass(frozen=True)
class Release:
    file: str  # in distill/weights/
    sha256: str
    onnx: tuple[str, str]  # ONNX Runtime's float model and its sha256 (runtime="onnx")
    int8: tuple[str, str]  # the int8 model and its sha256 (runtime="onnx-int8")
    # LightGlue keeps this release's mutual matches above this confidence by default (distill.match, eval matching):
    # the best of 0.1 to 0.9 for its homography AUC@3px on the validation photos' warped pairs (docs/matching.md)
    filter_threshold: float


# the .pt files: distill export --checkpoint runs/<run>/last.pt --fp16 --out distill/weights/<file>;
# the ONNX models: `make release-onnx` (distill export --format onnx --int8 of each .pt; it prints the sha256 to pin
# here); tests/distill/test_release_onnx.py checks them against the .pt and a fresh export
RELEASES = {
    "default": Release("student-r4a30mb-desc-fp16.pt", "a98f0e36fc5d7554ea76028c57aed087fcd71bdb2d900ec976a3910af80adb94",
                       ("student-r4a30mb-desc.onnx", "c59c9de9717acb257291b21dfa96a312485f7d89c056264f70767276faefd7a4"),
                       ("student-r4a30mb-desc.int8.onnx", "ff0961a8fc0842af7b7bcc476027e13c039a664c1089bb3068644297bb1ed93a"),
                       filter_threshold=0.7),
    "fast": Release("student-fast25l2h48c240-desc-fp16.pt", "3862c4982cf47f256c9521d7703c39ace7465bfa3190acd8b6b03621e4cf08e4",
                    ("student-fast25l2h48c240-desc.onnx", "f820260c78887b5a7faff10ff04e3984cd5b7c8d2f9bac0992a28c2a6134a0e3"),
                    ("student-fast25l2h48c240-desc.int8.onnx", "2a6975259b4dbd42ce34bbb8f801b19aeda4d37887b3cec86e1ab6008e84b4a9"),
                    filter_threshold=0.5),
}


def packaged(file: str, sha256: str) -> Path:
    """``distill/weights/<file>``, checked against its pinned ``sha256``."""
    path = Path(str(resources.files("distill") / "weights" / file))
    if not path.is_file():
        raise CheckpointError(f"the released file {path} is missing from this installation (reinstall distill)")
    actual = sha256_of(path)
    if actual != sha256:
        raise CheckpointError(f"the released file {path} has sha256 {actual}, expected {sha256}: the file is damaged")
    return path


def release_named(spec: str) -> str | None:
    """The release a spec names: ``pretrained`` -> ``default``, ``pretrained:NAME`` -> ``NAME``; None for anything else."""
    return (spec.partition(":")[2] or "default") if spec == "pretrained" or spec.startswith("pretrained:") else None


def released_checkpoint(name: str = "default") -> Path:
    """The packaged checkpoint of the release ``name`` (``RELEASES``), checksum-verified."""
    if name not in RELEASES:
        raise CheckpointError(f"no released student {name!r}; the releases are {', '.join(RELEASES)}")
    return packaged(RELEASES[name].file, RELEASES[name].sha256)


def release_of(path: str | Path) -> Release | None:
    """The release whose checkpoint or shipped ONNX model (float or int8) ``path`` is, by its sha256; None for any
    other file."""
    checksum = sha256_of(Path(path))
    return next((release for release in RELEASES.values()
                 if checksum in (release.sha256, release.onnx[1], release.int8[1])), None)


def released_onnx(checkpoint_sha256: str, int8: bool) -> Path | None:
    """The shipped ONNX model (float or int8) of the release whose checkpoint has this sha256,
    checksum-verified; None when the checkpoint is no release."""
    for release in RELEASES.values():
        if release.sha256 == checkpoint_sha256:
            return packaged(*(release.int8 if int8 else release.onnx))
    return None
