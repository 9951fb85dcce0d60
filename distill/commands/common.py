"""Small helpers shared by the command modules."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TypeVar

import torch
import typer

from labels.configuration import ConfigError, load_config, to_yaml

T = TypeVar("T")


class Runtime(str, Enum):
    torch = "torch"
    onnx = "onnx"
    onnx_int8 = "onnx-int8"


RUNTIME_HELP = ("Run students with PyTorch, or with ONNX Runtime (a checkpoint is exported once to <checkpoint>.onnx "
                "beside it, or in ~/.cache/distill when that folder is read-only; needs the \\[onnx] extra), or with "
                "ONNX Runtime in int8 (quantised once more, calibrated on the embedded photos, to <checkpoint>.int8.onnx). "
                "A .onnx checkpoint always runs in ONNX Runtime.")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is checked to exist."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise typer.BadParameter(f"device {device!r} asked for, but CUDA is not available here")
    return device


def parse_size(text: str) -> tuple[int, int]:
    """``"240x320"`` -> ``(240, 320)`` (rows x columns)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"size must be HxW (rows x columns, e.g. 240x320), got {text!r}") from None
    if h < 16 or w < 16:
        raise typer.BadParameter(f"size {text} is too small (at least 16x16)")
    return h, w


def usable_out_folder(out: Path) -> None:
    """``--out`` must be a folder that exists or can be made: a usage error (exit 2) otherwise."""
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file, not a folder", code=2)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"--out {out}: cannot create the folder ({error.strerror or error})", code=2)


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def command_config(schema: type[T], config_file: Path | None, overrides: list[str] | None, explicit: dict, show: bool) -> T:
    """A command's configuration (defaults, ``--config``, ``--set``, its options); a problem is a
    usage error (exit 2). With ``show`` (``--show-config``), print it as YAML and exit 0."""
    try:
        config = load_config(schema, config_file, overrides or [], explicit)
    except ConfigError as error:
        fail(str(error), code=2)
    if show:
        typer.echo(to_yaml(config), nl=False)
        raise typer.Exit(0)
    return config
