"""``distill detect``: keypoints of images written to files, per image (npz) or as the dense
per-sequence maps of the assignment's evaluator (ait)."""
from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer
from tqdm import tqdm

from distill.commands.common import OVERWRITE_HELP, RUNTIME_HELP, Runtime, fail, parse_size, resolve_device, usable_out_folder
from distill.eval.detectors import AVAILABLE, UnknownDetectorError, build_detectors, describe, detect_at_size, points_to_map
from distill.pretrained import RELEASES, released_checkpoint
from distill.student.checkpoint import CheckpointError
from distill.student.onnx_model import OnnxUnavailableError
from labels.images import IMAGE_SUFFIXES, ImageError, read_grey
from teachers.weights import WeightsError


Release = Enum("Release", {name: name for name in RELEASES}, type=str)  # the packaged students, distill/pretrained.py


class OutputFormat(str, Enum):
    npz = "npz"
    ait = "ait"


def _inputs(paths: list[Path]) -> list[tuple[Path, Path]]:
    """``(image, path relative to the argument it came from)`` for every image named or found."""
    found = []
    for root in paths:
        if root.is_file():
            found.append((root, Path(root.name)))
        elif root.is_dir():
            found += [(p, p.relative_to(root)) for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
        else:
            fail(f"{root}: the file or folder does not exist", code=2)
    if not found:
        fail(f"no images under {', '.join(map(str, paths))}", code=2)
    return found


def _output(relative: Path, format: OutputFormat) -> Path:
    return relative.parent / (f"{relative.stem}.npz" if format == OutputFormat.npz else f"{relative.stem}_det.npy")


def _refuse_collisions(inputs: list[tuple[Path, Path]], format: OutputFormat) -> None:
    """Two inputs that would write one output file (``x.jpg`` and ``x.png``) are a usage error, before any work."""
    seen: dict[Path, Path] = {}
    for path, relative in inputs:
        target = _output(relative, format)
        if target in seen:
            fail(f"{seen[target]} and {path} would both be written to {target}: detect them in separate runs "
                 f"(or with separate --out folders)", code=2)
        seen[target] = path


def detect_command(
    images: List[Path] = typer.Argument(..., help="Images or folders (searched recursively; the output mirrors their structure)."),
    out: Path = typer.Option(..., help="Output folder."),
    detector: Optional[str] = typer.Option(None, "--detector", "-d", help=f"ScoreMapDetector: {', '.join(AVAILABLE)}."),
    checkpoint: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Student checkpoint or exported .onnx model (instead of --detector)."),
    pretrained: bool = typer.Option(False, "--pretrained", help="A student that ships with the package (instead of --detector): see --release."),
    release: Release = typer.Option(Release.default, help="Which packaged student --pretrained loads: default (the most accurate) "
                                    "or fast (the fastest, with --runtime onnx-int8)."),
    runtime: Runtime = typer.Option(Runtime.torch, help=RUNTIME_HELP),
    top_k: Optional[int] = typer.Option(None, min=1, help="Keep at most K points per image (strongest first); default all."),
    nms_radius: Optional[int] = typer.Option(None, min=0, help="NMS radius in pixels, 0: none (default: the detector's own; 4, or a student checkpoint's)."),
    threshold: Optional[float] = typer.Option(None, min=0.0, help="Score threshold (default: the detector's own; a student checkpoint's)."),
    size: Optional[str] = typer.Option(None, help="Detect at HxW; points are mapped back to the original pixels "
                                       "(pixel centres at integer coordinates: x = (x' + 0.5) W / W' - 0.5)."),
    subpixel: bool = typer.Option(False, "--subpixel", help="Refine each point to the vertex of a parabola fit to its 3x3 neighbourhood."),
    format: OutputFormat = typer.Option(OutputFormat.npz, help="npz: one NAME.npz per image with keypoints (x, y, score); "
                                        "ait: one {k}_det.npy dense map per image k of each sequence folder."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Detect keypoints and write them in the pixels of each image as given. Exit status 1 when some
    images could not be read (the others are written; the failures are listed)."""
    if (detector is not None) + (checkpoint is not None) + pretrained != 1:
        fail("give exactly one of --detector NAME, --checkpoint FILE or --pretrained", code=2)
    if threshold is not None and not math.isfinite(threshold):
        fail(f"--threshold must be a number, got {threshold}", code=2)
    target = parse_size(size) if size else None
    inputs = _inputs(images)
    _refuse_collisions(inputs, format)
    usable_out_folder(out, [str(_output(relative, format)) for _, relative in inputs], overwrite)
    device = resolve_device(device)
    try:
        if checkpoint is not None or pretrained:
            from distill.student.detector import checkpoint_detector

            model = checkpoint_detector(checkpoint or released_checkpoint(release.value), device, runtime.value)
        else:
            model = build_detectors([detector], device)[0]
    except UnknownDetectorError as error:
        fail(str(error), code=2)
    except (WeightsError, CheckpointError, OnnxUnavailableError) as error:
        fail(str(error))
    if threshold is not None:
        model.threshold = threshold
    written, failed = 0, []
    for path, relative in tqdm(inputs, desc="detecting", unit="img", disable=quiet):
        try:
            grey = read_grey(path)
        except ImageError as error:
            failed.append(str(error))
            continue
        h, w = grey.shape
        xy, scores = detect_at_size(model, grey, target, nms_radius, top_k, subpixel)
        destination = out / _output(relative, format)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if format == OutputFormat.npz:
            extra = {}
            if model.describe is not None:  # row i describes keypoint i (sampled in the image as given)
                extra["descriptors"] = describe(model, grey, xy).astype(np.float32)
            np.savez(destination, keypoints=np.column_stack([xy, scores]).astype(np.float32),
                     image_size=np.array([h, w]), detector=model.name, **extra)
        else:
            np.save(destination, points_to_map(xy, np.maximum(scores, 1e-6), (h, w)))
        written += 1
    typer.echo(f"wrote {written} files to {out} ({format.value})")
    for message in failed:
        typer.echo(f"failed   {message}", err=True)
    if failed:
        raise typer.Exit(1)
