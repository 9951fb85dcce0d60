"""Checkpoints ``runs/<name>/{last,best}.pt``: written atomically by the trainer, read by resume,
``detect`` and ``eval``. Loaded with ``weights_only=True`` (tensors and plain values only), so a
checkpoint file can't run code. Files of earlier versions (a flat configuration) are upgraded."""
from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from distill.student.config import TrainConfig
from distill.student.errors import CheckpointError
from distill.student.model import Student
from labels.configuration import ConfigError, from_dict, plain

FORMAT = 2  # 1: flat configuration (before the typed configuration); 2: nested ``student`` group

ARCHITECTURE = ("backbone", "backbone_weights", "head", "fpn_channels", "input_scale", "pixel_shortcut",
                "detail_channels", "detail_start", "head_channels")
# what a format-1 checkpoint that lacks a key was trained with (the key was added later)
FORMAT_1_ABSENT = {"pixel_shortcut": False, "detail_channels": 0, "head_channels": None, "detail_start": 4,
                   "input_scale": 1.0}
RESUME_MAY_CHANGE = ("steps", "device", "workers", "val_every", "amp", "keep_checkpoints", "filter_threshold")


@dataclass
class Checkpoint:
    config: TrainConfig
    model: dict  # state dict of the Student
    step: int
    best: float
    optimiser: dict | None = None
    scheduler: dict | None = None
    training_model: dict | None = None  # with ``ema``: the weights as trained (``model`` is their average), for resume


def write_checkpoint(path: Path, weights: dict, step: int, best: float, config: TrainConfig, **extra) -> None:
    """Write a checkpoint atomically (under a temporary name, then renamed): a crash never leaves a
    half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"format": FORMAT, "model": weights, "step": step, "best": best, "config": plain(config), **extra}, tmp)
    tmp.replace(path)


def save_checkpoint(path: Path, model: Student, optimiser, scheduler, step: int, best: float, config: TrainConfig,
                    training_model: Student | None = None) -> None:
    """The model's checkpoint at ``path``; without an optimiser and scheduler (``None``), a slim one:
    weights and configuration, enough to detect. ``training_model``: the weights as trained when
    ``model`` is their moving average (kept for resume; detection reads ``model``)."""
    extra = {} if optimiser is None else {"optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict()}
    if training_model is not None and optimiser is not None:
        extra["training_model"] = training_model.state_dict()
    write_checkpoint(path, model.state_dict(), step, best, config, **extra)


def write_slim(source: Path, out: Path, fp16: bool = False, filter_threshold: float | None = None) -> int:
    """``source`` as a slim checkpoint at ``out`` (weights, configuration, step; floating-point weights
    as float16 when ``fp16``: they load back into float32 parameters; ``filter_threshold``, when given, the LightGlue
    confidence threshold its matches take by default). Returns the file's size."""
    checkpoint = read_checkpoint(source)
    weights = {k: v.half() if fp16 and v.is_floating_point() else v for k, v in checkpoint.model.items()}
    config = checkpoint.config if filter_threshold is None else replace(checkpoint.config, filter_threshold=filter_threshold)
    write_checkpoint(out, weights, checkpoint.step, checkpoint.best, config)
    return out.stat().st_size


def upgrade_format_1(config: dict) -> dict:
    """A format-1 (flat) configuration in today's layout: the architecture keys move into ``student``
    (absent ones take the values such runs were trained with); its ``detection`` group, the training
    mask's threshold then (now the store's own), is dropped; a run from before ``warp`` was trained with it."""
    upgraded = {k: v for k, v in config.items() if k not in ARCHITECTURE and k != "detection"}
    upgraded["student"] = {k: config.get(k, FORMAT_1_ABSENT.get(k)) for k in ARCHITECTURE}
    upgraded.setdefault("warp", True)
    return upgraded


def read_checkpoint(path: Path, device: str = "cpu") -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError):
        # torch's own message advises weights_only=False, which would run code from an unknown file: not repeated
        raise CheckpointError(f"{path}: not a distill checkpoint (truncated, or another kind of file)") from None
    if not isinstance(state, dict) or not {"model", "config"} <= state.keys():
        raise CheckpointError(f"{path}: not a distill checkpoint (no model weights and configuration in it)")
    config = state["config"] if state.get("format", 1) >= 2 else upgrade_format_1(state["config"])
    try:
        train_config = from_dict(TrainConfig, config, str(path))
    except ConfigError as error:
        raise CheckpointError(f"{error} (a checkpoint of another distill version?)") from None
    return Checkpoint(train_config, state["model"], int(state.get("step", 0)), float(state.get("best", -1.0)),
                      state.get("optimiser"), state.get("scheduler"), state.get("training_model"))


def student_of(checkpoint: Checkpoint) -> Student:
    """The trained student of a checkpoint already read, in eval mode (float32, whatever the file's precision)."""
    model = Student(replace(checkpoint.config.student, backbone_weights="none"))  # the checkpoint holds the trained weights
    model.load_state_dict(checkpoint.model)
    return model.eval()


def load_student(path: Path, device: str = "cpu") -> tuple[Student, TrainConfig]:
    """The trained student of a checkpoint, in eval mode, and its training configuration."""
    checkpoint = read_checkpoint(path)
    return student_of(checkpoint).to(device), checkpoint.config


def check_resumable(saved: TrainConfig, requested: TrainConfig, checkpoint: Path) -> None:
    """Refuse to resume ``checkpoint`` under a configuration other than the one it was trained with
    (but for ``RESUME_MAY_CHANGE``: more steps extend the cosine schedule): a leftover run folder of
    another recipe would otherwise pass for the requested one."""
    old, new = _flatten(plain(saved)), _flatten(plain(requested))
    changed = [f"{key}: {old.get(key, '<absent>')!r} -> {value!r}" for key, value in new.items()
               if key not in RESUME_MAY_CHANGE and old.get(key, "<absent>") != value]
    if changed:
        raise ConfigError(f"{checkpoint} was trained with another configuration ({'; '.join(changed)}); "
                          "pick another --name, or drop --resume to start this run afresh")


def _flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
