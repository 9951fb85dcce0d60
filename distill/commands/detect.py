"""``distill detect``: keypoints of images written to files, per image (npz) or as the dense
per-sequence maps of the assignment's evaluator (ait)."""
from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np
import typer
from tqdm import tqdm

from distill.choices import AVAILABLE, MULTISCALE, RESIZE
from distill.commands.common import (CHECKPOINT_HELP, image_inputs, OVERWRITE_HELP, RUNTIME_HELP, Runtime, fail, load_or_fail, parse_size,
                                     usable_out_folder)
from distill.pretrained import RELEASES
from labels.images import ImageError, read_grey


Release = Enum("Release", {name: name for name in RELEASES}, type=str)  # the packaged students, distill/pretrained.py


class OutputFormat(str, Enum):
    npz = "npz"
    ait = "ait"


def _output(relative: Path, format: OutputFormat) -> Path:
    return relative.parent / (f"{relative.stem}.npz" if format == OutputFormat.npz else f"{relative.stem}_det.npy")


def _picture(relative: Path) -> Path:
    return relative.parent / f"{relative.stem}_keypoints.png"


def draw_keypoints(grey: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The image in grey with a green circle (radius 3 px, antialiased) at each point: ``H x W x 3`` BGR."""
    picture = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    for x, y in np.round(xy).astype(int):
        cv2.circle(picture, (int(x), int(y)), 3, (0, 220, 0), 1, cv2.LINE_AA)
    return picture


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
    checkpoint: Optional[str] = typer.Option(None, help=f"{CHECKPOINT_HELP} Instead of --detector."),
    pretrained: bool = typer.Option(False, "--pretrained", help="A student that ships with the package (instead of --detector): see --release."),
    release: Release = typer.Option(Release.default, help="Which packaged student --pretrained loads: default (the most accurate) "
                                    "or fast (the fastest, with --runtime onnx-int8)."),
    runtime: Runtime = typer.Option(Runtime.torch, help=RUNTIME_HELP),
    top_k: Optional[int] = typer.Option(None, min=1, help="Keep at most K points per image (strongest first); default all."),
    nms_radius: Optional[int] = typer.Option(None, min=0, help="NMS radius in pixels, 0: none (default: the detector's own; 4, or a student checkpoint's)."),
    threshold: Optional[float] = typer.Option(None, min=0.0, help="Score threshold (default: the detector's own; a student checkpoint's)."),
    resize: int = typer.Option(RESIZE, min=0, help="Working resolution: an image whose long side exceeds this many pixels is "
                               "detected (and described) at that long side, its points mapped back to the original pixels; "
                               "0: every image at full resolution."),
    multiscale: bool = typer.Option(False, "--multiscale", help="Also score the image at "
                                    f"{', '.join(f'{f:g}' for f in MULTISCALE[1:])} of its (working) size and average the "
                                    "score maps before NMS: more repeatable points for 2.25 times the pixels (1.5 to 3 times the time)."),
    size: Optional[str] = typer.Option(None, help="Detect at HxW instead of --resize; points are mapped back to the original "
                                       "pixels (pixel centres at integer coordinates: x = (x' + 0.5) W / W' - 0.5)."),
    subpixel: bool = typer.Option(False, "--subpixel", help="Refine each point to the vertex of a parabola fit to its 3x3 neighbourhood."),
    format: OutputFormat = typer.Option(OutputFormat.npz, help="npz: one NAME.npz per image with keypoints (N x 2, x y), "
                                        "scores (N), descriptors (N x 256, see --descriptors), image_size (H, W) and the detector's name; "
                                        "ait: one {k}_det.npy dense map per image k of each sequence folder."),
    descriptors: bool = typer.Option(True, help="With --format npz: also write each point's descriptor (N x 256 float32) "
                                     "for detectors that have them; --no-descriptors leaves them out (a student then never "
                                     "runs its descriptor branch)."),
    draw: bool = typer.Option(False, "--draw", help="Also write NAME_keypoints.png: the image with its keypoints as green circles."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Detect keypoints and write them in the pixels of each image as given.

    Exit status 1 when some images could not be read (the others are written; the failures are listed)."""
    if (detector is not None) + (checkpoint is not None) + pretrained != 1:
        fail("give exactly one of --detector NAME, --checkpoint FILE or --pretrained", code=2)
    from distill.detection.detector import check_resize  # torch: not loaded for --help

    try:
        check_resize(resize or None)
    except ValueError as error:
        fail(f"--resize {resize}: {error} (0: full resolution)", code=2)
    if threshold is not None and not math.isfinite(threshold):
        fail(f"--threshold must be a number, got {threshold}", code=2)
    target = parse_size(size) if size else None
    inputs = image_inputs(images)
    _refuse_collisions(inputs, format)
    usable_out_folder(out, [str(name) for _, relative in inputs
                            for name in [_output(relative, format)] + ([_picture(relative)] if draw else [])], overwrite)
    spec = checkpoint or (f"pretrained:{release.value}" if pretrained else None)
    model = load_or_fail([detector] if detector else [], [spec] if spec else [], device, runtime.value)[0]
    from distill.detection.maps import points_to_map

    written, failed = 0, []
    for path, relative in tqdm(inputs, desc="detecting", unit="img", disable=quiet):
        try:
            grey = read_grey(path)
        except ImageError as error:
            failed.append(str(error))
            continue
        found = model(grey, top_k, threshold, nms_radius, subpixel, target, resize=resize or None,
                      descriptors=format == OutputFormat.npz and descriptors, scales=MULTISCALE if multiscale else (1.0,))
        destination = out / _output(relative, format)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if format == OutputFormat.npz:  # row i of scores and descriptors is keypoint i (sampled in the image as given)
            extra = {} if found.descriptors is None else {"descriptors": found.descriptors.astype(np.float32)}
            np.savez(destination, keypoints=found.keypoints.astype(np.float32), scores=found.scores.astype(np.float32),
                     image_size=np.array(grey.shape), detector=model.name, **extra)
        else:
            np.save(destination, points_to_map(found.keypoints, np.maximum(found.scores, 1e-6), grey.shape))
        if draw:
            cv2.imwrite(str(out / _picture(relative)), draw_keypoints(grey, found.keypoints))
        written += 1
    typer.echo(f"wrote {written} files to {out} ({format.value})")
    for message in failed:
        typer.echo(f"failed   {message}", err=True)
    if failed:
        raise typer.Exit(1)
