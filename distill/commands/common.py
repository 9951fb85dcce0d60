"""Small helpers shared by the command modules."""
from __future__ import annotations

import os
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import TypeVar

import typer

from distill.choices import AVAILABLE, RUNTIMES
from labels.configuration import ConfigError, load_config, to_yaml

T = TypeVar("T")


Runtime = Enum("Runtime", {name.replace("-", "_"): name for name in RUNTIMES}, type=str)  # --runtime torch | onnx | onnx-int8


RUNTIME_HELP = ("Run students with PyTorch, or with ONNX Runtime (needs the \\[onnx] extra): a released student runs the "
                "ONNX model shipped with it (pinned by sha256); another checkpoint is exported once into ~/.cache/distill/onnx "
                "under its sha256 and run only while it is bound to that checkpoint; or with ONNX Runtime in int8 (the same, "
                "quantised once more, calibrated on the embedded photos). A .onnx file given as the checkpoint runs as it is.")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is checked to exist (a usage error if not)."""
    from distill.api import resolve_device as resolve

    try:
        return resolve(device)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


CHECKPOINT_HELP = ("A student: a checkpoint (runs/NAME/last.pt, an exported .onnx), or pretrained / pretrained:NAME "
                   "(a released student: default, fast).")


def student_teacher_checkpoint(teacher: str) -> Path:
    """The checkpoint of a ``student:SPEC`` teacher: ``SPEC`` a checkpoint file, or ``pretrained`` / ``pretrained:NAME``
    (a released student, checksum-verified). A ``CheckpointError`` names the teacher when neither."""
    from distill.pretrained import release_named, released_checkpoint
    from distill.student.errors import CheckpointError

    spec = teacher.split(":", 1)[1]
    name = release_named(spec)
    if name is not None:
        try:
            return released_checkpoint(name)
        except CheckpointError as error:  # an unknown release, or a packaged file that fails its checksum
            raise CheckpointError(f"--teacher {teacher}: {error}") from None
    if not Path(spec).is_file():
        raise CheckpointError(f"--teacher {teacher}: checkpoint not found: {spec} (a checkpoint file, or pretrained / pretrained:NAME)")
    return Path(spec)


def checkpoint_argument(spec: str | Path) -> str:
    """A ``--checkpoint`` value: ``pretrained`` / ``pretrained:NAME``, or a file that exists; else a usage error (exit 2)."""
    from distill.pretrained import RELEASES, release_named

    text = str(spec)
    name = release_named(text)
    if name is not None:
        if name not in RELEASES:
            fail(f"--checkpoint {text}: no released student {name!r}; the releases are {', '.join(RELEASES)}", code=2)
    elif not Path(text).is_file():
        fail(f"--checkpoint {text}: the file does not exist (a checkpoint file, or pretrained / pretrained:NAME)", code=2)
    return text


def load_or_fail(names: Iterable[str] = (), checkpoints: Iterable[str | Path] = (), device: str = "auto",
                 runtime: str = "torch", ha_homographies: int = 100) -> list:
    """``distill.api.load_detectors`` of detector ``names`` then ``checkpoints``: an unknown name or a missing
    checkpoint is a usage error (exit 2), an unreadable weight file or checkpoint an input error (exit 1)."""
    names, checkpoints = list(names), [checkpoint_argument(c) for c in checkpoints]
    unknown = [name for name in names if name not in AVAILABLE]
    if unknown:
        fail(f"unknown detector(s) {', '.join(unknown)}; available: {', '.join(AVAILABLE)}", code=2)
    from distill.api import load_detectors
    from distill.student.errors import CheckpointError
    from distill.student.onnx_model import OnnxUnavailableError
    from teachers.weights import WeightsError

    try:
        return load_detectors(names + checkpoints, resolve_device(device), runtime, ha_homographies)
    except (WeightsError, CheckpointError, OnnxUnavailableError) as error:
        fail(str(error))


def hpatches_sequences(root: Path | None, only: str | None = None) -> list:
    """The HPatches sequences under ``root`` (default: $HPATCHES_ROOT, then data/hpatches; ``only`` ``i`` or ``v``):
    a root that does not exist is a usage error (exit 2), a malformed sequence an input error (exit 1), each named."""
    from distill.eval.sequences import HPATCHES_HELP, HPatchesError, default_root, load_hpatches

    root = root or default_root()
    if not root.is_dir():
        fail(f"HPatches root {root} does not exist. {HPATCHES_HELP}", code=2)
    try:
        return load_hpatches(root, only)
    except HPatchesError as error:
        fail(str(error))


def synthetic_sequences(paths: list[Path], seed: int, strength: float = 1.0, illumination: str = "mixed") -> list:
    """Two synthetic sequences per photo (``distill.eval.synthetic_warps.warped_sequences``); an unreadable photo
    fails naming it."""
    from distill.eval.synthetic_warps import warped_sequences
    from labels.images import ImageError

    try:
        return warped_sequences(paths, seed=seed, strength=strength, illumination=illumination)
    except ImageError as error:
        fail(str(error))


def parse_size(text: str) -> tuple[int, int]:
    """``"240x320"`` -> ``(240, 320)`` (rows x columns)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"size must be HxW (rows x columns, e.g. 240x320), got {text!r}") from None
    if h < 16 or w < 16:
        raise typer.BadParameter(f"size {text} is too small (at least 16x16)")
    return h, w


def usable_out_folder(out: Path, outputs: Iterable[str] = (), overwrite: bool = False) -> None:
    """``--out`` must be a folder that exists or can be made (it is made when the command writes, never
    before) and hold none of ``outputs`` (names inside it) unless ``overwrite``: a usage error (exit 2) otherwise."""
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file, not a folder", code=2)
    writable_or_creatable(out, "--out")
    refuse_existing([out / name for name in outputs], overwrite)


def writable_or_creatable(path: Path, option: str) -> None:
    """``path`` (a folder to write in) exists, or its nearest existing ancestor is a folder we may write in."""
    ancestor = path.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        fail(f"{option} {path}: cannot create the folder ({ancestor} is a file)", code=2)
    if not os.access(ancestor, os.W_OK):
        fail(f"{option} {path}: cannot create the folder ({ancestor} is not writable)", code=2)


def refuse_existing(paths: Iterable[Path], overwrite: bool) -> None:
    """Nothing is overwritten without being asked: existing ``paths`` are a usage error (exit 2) unless ``overwrite``."""
    existing = [path for path in paths if path.exists()]
    if existing and not overwrite:
        shown = ", ".join(str(p) for p in existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        fail(f"{shown} {'exists' if len(existing) == 1 else 'exist'} already: pass --overwrite to replace "
             f"{'it' if len(existing) == 1 else 'them'}, or write elsewhere", code=2)


CONFIG_HELP = "YAML file of protocol keys (see --show-config), over the named --protocol's."
SET_HELP = "key=value override of the protocol, e.g. top_k=1000 or size=[480,640] (repeatable)."
SHOW_CONFIG_HELP = "Print the protocol this run would use, as YAML, and stop."
OVERWRITE_HELP = "Replace outputs that exist already (without it, a command refuses them before any work)."


def echo_results(paths: list[Path]) -> None:
    """Print the results table (the second file written, its Markdown) and the files written."""
    typer.echo(paths[1].read_text())
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def command_config(schema: type[T], config_file: Path | None, overrides: list[str] | None, explicit: dict, show: bool,
                   base: tuple[str, dict] | None = None) -> T:
    """A command's configuration (defaults, a named ``base``, ``--config``, ``--set``, its options); a problem is
    a usage error (exit 2). With ``show`` (``--show-config``), print it as YAML and exit 0."""
    try:
        config = load_config(schema, config_file, overrides or [], explicit, base)
    except ConfigError as error:
        fail(str(error), code=2)
    if show:
        typer.echo(to_yaml(config), nl=False)
        raise typer.Exit(0)
    return config


def image_inputs(paths: list[Path]) -> list[tuple[Path, Path]]:
    """``(image, path relative to the argument it came from)`` for every image file named or found (recursively) in
    ``paths``; a path that does not exist, or no image at all, is a usage error (exit 2) naming them."""
    from labels.images import IMAGE_SUFFIXES

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
