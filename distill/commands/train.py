"""``distill train``: a student from cached teacher labels (the teacher is never called)."""
from __future__ import annotations

import time
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from distill.commands.common import command_config, fail, resolve_device, student_teacher_checkpoint
from distill.eval.sequences import HPatchesError
from distill.student.errors import CheckpointError
from distill.student.config import HEADS, StudentConfig, TrainConfig
from labels.configuration import ConfigError
from labels.errors import StoreError
from teachers.weights import sha256_of

Head = Enum("Head", {name: name for name in HEADS}, type=str)


def newest_store(teacher: str = "superpoint", folder: Path = Path("data/labels")) -> Path:
    """The newest store in ``folder`` labelled by ``teacher``: ``superpoint``, or ``student:PATH`` (or
    ``student:pretrained[:NAME]``), a store whose configuration records that checkpoint's checksum (``distill labels
    --teacher student:PATH``)."""
    kind, _, path = teacher.partition(":")
    if kind not in ("superpoint", "student") or (kind == "student") != bool(path):
        fail(f"--teacher {teacher!r}: superpoint, student:PATH or student:pretrained[:NAME]", code=2)
    stores = [s for s in sorted(folder.glob(f"{kind}-*.h5"), key=lambda p: p.stat().st_mtime) if "-shard" not in s.stem]
    if kind == "student":
        from labels.store import StoreReader

        try:
            checkpoint = student_teacher_checkpoint(teacher)
        except CheckpointError as error:
            fail(str(error), code=2)
        checksum = sha256_of(checkpoint)
        stores = [s for s in stores if StoreReader(s).config.get("weights_sha256") == checksum]
    if not stores:
        fail(f"no label store of the {teacher} teacher in {folder}: run `distill labels --teacher {teacher}` "
             f"(`make labels` for SuperPoint) first, or pass --store")
    return stores[-1]


def train_command(
    teacher: List[str] = typer.Option(["superpoint"], help="Teacher whose cached labels to learn from, when no --store is given: "
                                      "superpoint, or student:PATH (the store `distill labels --teacher student:PATH` wrote, found "
                                      "by the checkpoint's checksum; a later labelling round), or student:pretrained[:NAME]. Repeatable: the newest store of "
                                      "each, trained on together."),
    store: Optional[List[str]] = typer.Option(None, help="Label store index file, or a glob pattern in quotes (a shard set: "
                                              "'data/labels/superpoint-<hash>-shard*of4.h5'); repeatable, trained on together. "
                                              "Default: the teacher's newest in data/labels."),
    config: Optional[Path] = typer.Option(None, help="YAML file overriding the defaults (TrainConfig in distill/student/config.py; see --show-config)."),
    backbone: Optional[str] = typer.Option(None, help=f"timm backbone name (student.backbone) \\[default: {StudentConfig.backbone}, "
                                           "ImageNet weights from a package]."),
    backbone_weights: Optional[str] = typer.Option(None, help="student.backbone_weights: auto | hub (timm pretrained, online) | none | FILE "
                                                   f"\\[default: {StudentConfig.backbone_weights}]."),
    head: Optional[Head] = typer.Option(None, help="student.head: cell (65 logits per 8x8 cell, SuperPoint-style) or map (one logit "
                                        f"channel at stride 4, bicubic upsampling) \\[default: {StudentConfig.head}]."),
    init: Optional[str] = typer.Option(None, help="Start from the weights of this checkpoint, or 'pretrained' (the released student); "
                                       "the architecture must match but for the descriptor branch, student.separable, student.input_scale, student.downscale, "
                                       "student.detail_start and student.backbone (parts whose tensors differ start fresh; "
                                       "tf_efficientnet_lite0 and efficientnet_lite0 share theirs); student.backbone_levels may be fewer, "
                                       "student.detail_channels and student.head_channels narrower (the most important channels load), "
                                       "and a 1x1 head (student.head_kernel=1) loads a 3x3 head's centre taps. "
                                       "With --set 'train_only=[descriptor_fpn,descriptor_head]' only a new descriptor branch learns and the "
                                       "detector stays exactly as it was."),
    steps: Optional[int] = typer.Option(None, help=f"Optimiser steps \\[default: {TrainConfig.steps}, 10–12 minutes on 2 CPU cores]."),
    name: Optional[str] = typer.Option(None, help="Run name: the run folder is runs/<name>."),
    val_hpatches: Optional[Path] = typer.Option(
        None, help="HPatches sequences folder: validate, and choose best.pt, by repeatability there (standard protocol) "
                   "instead of on the store's held-out images. Numbers later reported on the same folder are then not held out."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    resume: bool = typer.Option(False, help="Continue runs/<name> from its last.pt (the same configuration; more --steps extend it)."),
    overwrite: bool = typer.Option(False, help="Start runs/<name> afresh although it holds a run (its checkpoints and metrics are replaced)."),
    runs_dir: Path = typer.Option(Path("runs"), help="Folder of the run folders."),
    override: Optional[List[str]] = typer.Option(None, "--set", help="key=value override, e.g. losses.kl.weight=1 or student.detail_start=4 (repeatable)."),
    show_config: bool = typer.Option(False, "--show-config", help="Print the configuration this run would use, as YAML, and stop."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Train a student on cached labels: focal / KL / attentive / Huber / consistency losses.

    Writes runs/<name>/ with config.yaml (the full configuration: --config repeats the run), provenance.yaml (the
    label stores' hashes, processes), metrics.jsonl, metrics.png, last.pt and best.pt."""
    from distill.student.backbone import BackboneWeightsError
    from distill.training.trainer import NonFiniteLossError, TrainingInterrupted, train

    explicit = {"student": {"backbone": backbone, "backbone_weights": backbone_weights, "head": head.value if head else None},
                "init": init, "steps": steps, "name": name, "val_hpatches": str(val_hpatches) if val_hpatches else None}
    cfg = command_config(TrainConfig, config, override, explicit, show_config)
    import timm

    if not timm.is_model(cfg.student.backbone):
        fail(f"unknown backbone {cfg.student.backbone!r}: not a timm model name "
             f"(python -c \"import timm; print(timm.list_models('*mobilenet*'))\" lists some)", code=2)
    from labels.store_set import StoreSetError, expand_stores

    try:
        stores = [str(s) for s in expand_stores(store or cfg.stores or [newest_store(t) for t in teacher])]
    except StoreSetError as error:
        fail(str(error), code=2)
    cfg = replace(cfg, stores=stores, device=resolve_device(device if device != "auto" else cfg.device),
                  name=cfg.name or f"{cfg.student.backbone}-{cfg.student.head}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir = runs_dir / cfg.name
    if cfg.name in (".", "..") or Path(cfg.name).name != cfg.name:
        fail(f"run name {cfg.name!r} must be one folder name (no '/' or '..'): the run is written to {runs_dir}/<name>", code=2)
    started = any((run_dir / f).exists() for f in ("last.pt", "best.pt", "metrics.jsonl"))
    if resume and overwrite:
        fail("--resume and --overwrite contradict each other: continue the run, or replace it", code=2)
    if resume and not (run_dir / "last.pt").is_file():
        if started:  # a start stopped before its first checkpoint (Ctrl-C, a failure): nothing to continue
            fail(f"--resume: {run_dir} holds a start that stopped before its first checkpoint (no last.pt): "
                 f"pass --overwrite instead of --resume to start it afresh", code=2)
        fail(f"--resume: {run_dir} holds no run to resume (no last.pt); runs in {runs_dir}: "
             f"{', '.join(sorted(p.name for p in runs_dir.glob('*/last.pt') for p in [p.parent])) or 'none'}", code=2)
    if not resume and not overwrite and started:
        fail(f"{run_dir} already holds a run{'' if (run_dir / 'last.pt').is_file() else ' that stopped before its first checkpoint'}: "
             f"{'pass --resume to continue it, ' if (run_dir / 'last.pt').is_file() else ''}"
             f"pass --overwrite to replace it, or give another --name", code=2)
    try:
        summary = train(cfg, run_dir, resume=resume, progress=not quiet)
    except (NonFiniteLossError, StoreError, HPatchesError, CheckpointError, ConfigError, BackboneWeightsError) as error:
        fail(str(error))
    except TrainingInterrupted as stop:
        fail(str(stop), code=130)
    typer.echo("\n".join(f"{k:32s}{v}" for k, v in summary.items()))
