"""Starting a run from a trained student (``init``) and training only some of its parts (``train_only``).

The use: give the released student a descriptor head without touching its detector,
``distill train --init pretrained --set student.descriptor_dim=256 --set 'train_only=[descriptor_head]'``:
the frozen parts keep their weights and their batch-norm statistics, so the detector's keypoints stay
exactly those of the checkpoint it started from. ``init_fresh`` names parts that start fresh even where
the checkpoint has them (another seed of the released student's descriptor branch)."""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from torch import nn

from distill.student.checkpoint import CheckpointError, read_checkpoint, student_of
from distill.student.config import StudentConfig
from distill.student.model import Student
from distill.student.narrow import NARROWABLE, narrow
from labels.configuration import ConfigError

PARTS = ("backbone", "fpn", "detail", "head", "descriptor_stages", "descriptor_fpn", "descriptor_detail", "descriptor_head")
# keys of the student's configuration that may differ between the checkpoint and the run it starts:
# a part whose weights then differ in name or shape starts fresh (``input_scale`` changes no shape: the
# backbone and pyramid load and adapt to the new scale in training; ``tf_efficientnet_lite0`` and
# ``efficientnet_lite0`` share every tensor and differ only in padding, so a backbone swapped between them loads;
# a detail branch of another ``detail_start`` has other tensors and starts fresh; ``downscale`` changes no
# tensor, nor does the backbone's ``backbone_antialias``; a 1x1 head (``head_kernel``) loads the centre taps of a 3x3 one)
MAY_DIFFER = ("backbone_weights", "descriptor_dim", "descriptor_channels", "descriptor_levels", "descriptor_separable",
              "descriptor_hidden", "descriptor_detail", "separable", "input_scale",
              "backbone", "detail_start", "downscale", "head_kernel", "backbone_antialias")
# ... and ``NARROWABLE`` ones may be narrower than the checkpoint's: its detail branch and head are narrowed;
# ``backbone_levels`` may be fewer: the backbone and pyramid load the levels they keep


def init_checkpoint(source: str):
    """``pretrained`` / ``pretrained:NAME`` (a released student) or a checkpoint path -> its path."""
    from distill.pretrained import release_named, released_checkpoint

    return source if release_named(source) is None else released_checkpoint(release_named(source))


class InitParts(NamedTuple):
    """What :func:`initialise_from` did with a checkpoint's parts (``PARTS``, in that order)."""

    loaded: list[str]
    not_loaded: list[str]  # held by the checkpoint, not taken (init_fresh, another shape, a part the model lacks)


def initialise_from(model: Student, source: str, fresh: tuple[str, ...] = ()) -> InitParts:
    """Load the weights of the checkpoint ``source`` into ``model``, whose architecture must be the
    checkpoint's but for ``MAY_DIFFER`` and ``NARROWABLE`` (a narrower detail branch or head loads the
    checkpoint's most important channels, :func:`~distill.student.narrow.narrow`). Each part (``PARTS``)
    whose weights all match the checkpoint's in name and shape is loaded, but those named in ``fresh``; the
    others (a new descriptor branch, a head made separable) keep their fresh initialisation. Returns the
    names of the loaded parts and of the checkpoint's parts not loaded."""
    unknown = [name for name in fresh if name not in PARTS]
    if unknown:
        raise ConfigError(f"init_fresh: unknown part(s) {', '.join(unknown)}; the student's parts are {', '.join(PARTS)}")
    path = init_checkpoint(source)
    checkpoint = read_checkpoint(path)
    ours, before = model.config, checkpoint.config.student
    theirs = replace(before, **{k: getattr(ours, k) for k in MAY_DIFFER + NARROWABLE})
    if ours.backbone_levels <= before.backbone_levels:
        theirs = replace(theirs, backbone_levels=ours.backbone_levels)
    if theirs != ours:
        differ = [k for k in StudentConfig.__dataclass_fields__ if getattr(theirs, k) != getattr(ours, k)]
        raise CheckpointError(f"init: {path} is a student of another architecture ({', '.join(differ)} differ); "
                              f"only {', '.join(f'student.{k}' for k in MAY_DIFFER[1:])} may change, and "
                              f"{' and '.join(f'student.{k}' for k in NARROWABLE)} narrow, and student.backbone_levels "
                              f"may be fewer")
    if ours.detail_start != before.detail_start and ours.detail_channels != before.detail_channels:
        raise CheckpointError(f"init: {path}: a detail branch of another detail_start starts fresh, so it cannot also "
                              f"be narrowed from the checkpoint's; change student.detail_start or student.detail_channels")
    own, saved = model.state_dict(), checkpoint.model
    if any(getattr(before, k) != getattr(ours, k) for k in NARROWABLE):
        try:
            saved = narrow(student_of(checkpoint), ours)
        except ValueError as error:
            raise CheckpointError(f"init: {path}: {error}") from None

    if ours.head_kernel == 1 and before.head_kernel == 3 and not before.separable:
        saved = {**saved, "head.0.0.weight": saved["head.0.0.weight"][:, :, 1:2, 1:2]}

    def keys(state: dict, part: str) -> dict:
        return {k: tuple(v.shape) for k, v in state.items() if k.split(".")[0] == part}

    # a part loads when each of its tensors is in the checkpoint with its shape (the checkpoint may hold
    # more: the deeper levels of a backbone and pyramid that keep fewer)
    loaded = [part for part in PARTS if part not in fresh and keys(own, part) and keys(own, part).items() <= keys(saved, part).items()]
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in saved.items() if k.split(".")[0] in loaded},
                          strict=False)
    held = {key.split(".")[0] for key in checkpoint.model}
    return InitParts(loaded, [part for part in PARTS if part in held and part not in loaded])


def frozen_parts(model: Student, train_only: list[str]) -> list[nn.Module]:
    """The parts of ``model`` outside ``train_only`` (names from ``PARTS``; empty: train everything),
    with gradients turned off; :func:`hold_frozen` keeps them in eval mode."""
    if not train_only:
        return []
    unknown = [name for name in train_only if name not in PARTS]
    if unknown:
        raise ConfigError(f"train_only: unknown part(s) {', '.join(unknown)}; the student's parts are {', '.join(PARTS)}")
    absent = [name for name in train_only if getattr(model, name) is None]
    if absent:
        raise ConfigError(f"train_only: this student has no {', '.join(absent)} (see its student.* configuration)")
    frozen = [getattr(model, name) for name in PARTS if name not in train_only and getattr(model, name) is not None]
    for part in frozen:
        part.requires_grad_(False)
    hold_frozen(frozen)
    return frozen


def hold_frozen(frozen: list[nn.Module]) -> None:
    """Frozen parts run in eval mode: their batch-norm statistics never move."""
    for part in frozen:
        part.eval()
