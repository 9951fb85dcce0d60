"""Starting a run from a trained student (``init``) and training only some of its parts (``train_only``).

The use: give the released student a descriptor head without touching its detector,
``distill train --init pretrained --set student.descriptor_dim=256 --set 'train_only=[descriptor_head]'``:
the frozen parts keep their weights and their batch-norm statistics, so the detector's keypoints stay
exactly those of the checkpoint it started from."""
from __future__ import annotations

from dataclasses import replace

from torch import nn

from distill.student.checkpoint import CheckpointError, read_checkpoint
from distill.student.config import StudentConfig
from distill.student.model import Student
from labels.configuration import ConfigError

PARTS = ("backbone", "fpn", "detail", "head", "descriptor_fpn", "descriptor_head")
# keys of the student's configuration that may differ between the checkpoint and the run it starts
DESCRIPTOR = ("descriptor_dim", "descriptor_channels")
MAY_DIFFER = ("backbone_weights",) + DESCRIPTOR


def init_checkpoint(source: str):
    """``pretrained`` (the released student) or a checkpoint path -> its path."""
    if source == "pretrained":
        from distill.pretrained import released_checkpoint
        return released_checkpoint()
    return source


def initialise_from(model: Student, source: str) -> list[str]:
    """Load the weights of the checkpoint ``source`` into ``model``, whose architecture must be the
    checkpoint's but for ``MAY_DIFFER``; parts the checkpoint lacks or has in another shape (a new
    descriptor head) keep their fresh initialisation. Returns the names of those parts."""
    path = init_checkpoint(source)
    checkpoint = read_checkpoint(path)
    theirs = replace(checkpoint.config.student, **{k: getattr(model.config, k) for k in MAY_DIFFER})
    if theirs != model.config:
        differ = [k for k in StudentConfig.__dataclass_fields__ if getattr(theirs, k) != getattr(model.config, k)]
        raise CheckpointError(f"init: {path} is a student of another architecture ({', '.join(differ)} differ); "
                              "only student.descriptor_dim and student.descriptor_channels may change")
    same_descriptors = all(getattr(checkpoint.config.student, k) == getattr(model.config, k) for k in DESCRIPTOR)
    weights = {k: v for k, v in checkpoint.model.items() if same_descriptors or not k.startswith("descriptor_")}
    missing, unexpected = model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()},
                                                strict=False)
    assert not unexpected, unexpected
    return sorted({key.split(".")[0] for key in missing})


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
